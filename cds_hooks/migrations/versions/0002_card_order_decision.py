"""The re-alert rule: each issued opioid card keeps its draft order and decision fingerprint.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the two nullable columns (cards issued before keep NULL: nothing to recall)."""
    with op.batch_alter_table("cds_issued_card") as table:
        table.add_column(sa.Column("order_reference", sa.String(200)))
        table.add_column(sa.Column("decision", sa.String(64)))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("cds_issued_card") as table:
        table.drop_column("decision")
        table.drop_column("order_reference")
