"""Feedback is taken only from the client a card was issued to: each card keeps that client.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable column (cards issued before it have no recorded client)."""
    with op.batch_alter_table("cds_issued_card") as table:
        table.add_column(sa.Column("client_issuer", sa.Text))


def downgrade() -> None:
    """Drop it again."""
    with op.batch_alter_table("cds_issued_card") as table:
        table.drop_column("client_issuer")
