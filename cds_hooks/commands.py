"""``ldn-safety feedback export`` (the stored CDS feedback as JSON lines) and ``ldn-safety db``
(migrate the store's database)."""

from __future__ import annotations

from collections.abc import Callable

import click
import orjson
from flask import Flask

from cds_hooks import schema
from cds_hooks.state import EXTENSION, CdsState


def feedback_group(create_app: Callable[[], Flask]) -> click.Group:
    """Build the ``feedback`` command group for an app made by ``create_app``."""

    @click.group("feedback")
    def feedback() -> None:
        """Read back what clinicians did with the CDS cards."""

    @feedback.command("export")
    def export() -> None:
        """Print every feedback item, joined with its card, one JSON object per line."""
        state: CdsState = create_app().extensions[EXTENSION]
        try:
            for row in state.store.feedback_rows():
                click.echo(orjson.dumps(row).decode())
        finally:
            state.store.close()

    return feedback


def db_group(create_app: Callable[[], Flask]) -> click.Group:
    """Build the ``db`` command group for the store of an app made by ``create_app``."""

    @click.group("db")
    def db() -> None:
        """Migrate the card, feedback and replay store (LDN_DATABASE_URL)."""

    @db.command("upgrade")
    def upgrade() -> None:
        """Bring the database to the newest schema this release ships (safe to run twice)."""
        state: CdsState = create_app().extensions[EXTENSION]
        try:
            schema.upgrade(state.store.engine)
            click.echo(f"database at {schema.current_revision(state.store.engine)} (head)")
        finally:
            state.store.close()

    @db.command("current")
    def current() -> None:
        """Print the database's schema revision and whether it is this release's newest."""
        state: CdsState = create_app().extensions[EXTENSION]
        try:
            revision = schema.current_revision(state.store.engine)
        finally:
            state.store.close()
        head = schema.head_revision()
        if revision != head:
            raise click.ClickException(
                f"database at {revision or 'no revision'}, this release needs {head}: "
                "run 'ldn-safety db upgrade'"
            )
        click.echo(f"database at {revision} (head)")

    return db
