"""Paused sending lanes (issue 26.1): ``send_lane_pause``, one row per lane the provider refuses.

An account or sender problem (token rotated, account suspended, Japan not enabled, sender not
allowed) pauses the lane instead of failing each message; the row says why and since when, every
worker reads it, and a successful probe or an admin deletes it.

Revision ID: 0020_chan
Revises: 0018_cred
Create Date: 2026-12-07
"""

import sqlalchemy as sa

from alembic import op

revision = "0020_chan"
down_revision = "0018_cred"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_lane_pause",
        sa.Column("lane", sa.String(length=10), primary_key=True),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("probed_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("send_lane_pause")
