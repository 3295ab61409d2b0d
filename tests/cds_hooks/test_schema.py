"""The store's schema comes from the Alembic migrations, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import Engine, inspect

from cds_hooks import schema
from cds_hooks.store import metadata, store_engine
from ldn_safety.cli import main


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return the URL of a database with nothing in it, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def engine(empty_url: str) -> Iterator[Engine]:
    engine = store_engine(empty_url)
    yield engine
    engine.dispose()


def test_upgrade_from_nothing_to_head_matches_the_models(engine: Engine) -> None:
    assert schema.current_revision(engine) is None
    assert inspect(engine).get_table_names() == []
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_upgrade_twice_changes_nothing(engine: Engine) -> None:
    schema.upgrade(engine)
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()


def test_the_db_upgrade_command_migrates_the_configured_database(
    empty_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LDN_DATABASE_URL", f'"{empty_url}"')
    monkeypatch.setenv("LDN_SECRET_KEY", "a-long-enough-secret-for-the-test")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert schema.head_revision() in result.output
    assert schema.current_revision(engine) == schema.head_revision()
    again = CliRunner().invoke(main, ["db", "current"])
    assert again.exit_code == 0, again.output
    assert f"at {schema.head_revision()} (head)" in again.output
