"""Alembic's environment: migrate the connection ``cds_hooks.schema`` hands over."""

from __future__ import annotations

from alembic import context

from cds_hooks.store import metadata

connection = context.config.attributes["connection"]
# Batch mode lets the same revision alter tables on SQLite, which has no ALTER COLUMN.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
