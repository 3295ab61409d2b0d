"""Alembic migrations of the CDS store's tables (package data: a wheel ships them).

Run them with ``ldn-safety db upgrade`` (see ``cds_hooks.schema``); never by hand-made DDL.
"""
