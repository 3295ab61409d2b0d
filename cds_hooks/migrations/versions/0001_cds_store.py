"""The CDS store: issued cards, feedback, seen client JWT ids.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the three tables."""
    op.create_table(
        "cds_issued_card",
        sa.Column("uuid", sa.String(64), primary_key=True),
        sa.Column("service_id", sa.String(100), nullable=False),
        sa.Column("hook_instance", sa.String(100), nullable=False),
        sa.Column("patient_pseudonym", sa.String(64)),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("summary", sa.String(200), nullable=False),
        sa.Column("suggestions", sa.JSON, nullable=False),
        sa.Column("issued_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "cds_feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service_id", sa.String(100), nullable=False),
        sa.Column("card_uuid", sa.String(100), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON, nullable=False),
        sa.Column("override_system", sa.Text),
        sa.Column("override_code", sa.Text),
        sa.Column("override_display", sa.Text),
        sa.Column("user_comment", sa.Text),
        sa.Column("outcome_timestamp", sa.String(40), nullable=False),
        sa.Column("received_at", sa.String(40), nullable=False),
        sa.Column("client_issuer", sa.Text),
    )
    op.create_index("ix_cds_feedback_card_uuid", "cds_feedback", ["card_uuid"])
    op.create_table(
        "cds_seen_jti",
        sa.Column("issuer", sa.String(255), primary_key=True),
        sa.Column("jti", sa.String(255), primary_key=True),
        sa.Column("keep_until", sa.Integer, nullable=False),
    )
    op.create_index("ix_cds_seen_jti_keep_until", "cds_seen_jti", ["keep_until"])


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("cds_seen_jti")
    op.drop_table("cds_feedback")
    op.drop_table("cds_issued_card")
