"""The CDS store's schema: upgraded by the Alembic migrations in ``cds_hooks.migrations``.

``ldn-safety db upgrade`` runs ``upgrade`` against ``LDN_DATABASE_URL`` once per release (a
shared database is migrated by the operator, not by each worker at start-up). The embedded
single-host SQLite file is the exception: the service brings it to the head revision itself.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

SCRIPT_LOCATION = "cds_hooks:migrations"
# Held for the length of one upgrade, so that two hosts migrating at once take turns.
_POSTGRES_LOCK = 0x1D5AFE


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """Return the newest revision the installed package ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None  # the package always ships at least one revision
    return head


def current_revision(engine: Engine) -> str | None:
    """Return the revision the database is at (None for a database never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` in one transaction (all of it or none of it)."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSTGRES_LOCK})
        command.upgrade(_config(connection), revision)
