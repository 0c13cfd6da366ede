"""Trigger records keep each event's part of their round (contributions), so that cancelling an
event merged into a pending round takes back only what it brought (issue 17).

Revision ID: 0015_feeds17
Revises: 0014_sec12
Create Date: 2026-12-02
"""

import sqlalchemy as sa

from alembic import op

revision = "0015_feeds17"
down_revision = "0014_sec12"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trigger_event") as batch:
        batch.add_column(sa.Column("contributions", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("trigger_event") as batch:
        batch.drop_column("contributions")
