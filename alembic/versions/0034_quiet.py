"""Quiet hours per prefecture (issue 25.4): when an advance notice may not text or call families;
and the rule a notice round runs by, kept on the round at its start (rounds/quiet.py).

Revision ID: 0034_quiet
Revises: 0025_oncall
Create Date: 2026-12-07
"""

import sqlalchemy as sa

from alembic import op

revision = "0034_quiet"
down_revision = "0025_oncall"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prefecture") as batch:
        batch.add_column(sa.Column("quiet_start", sa.String(length=5), nullable=True))
        batch.add_column(sa.Column("quiet_end", sa.String(length=5), nullable=True))
    with op.batch_alter_table("safety_round") as batch:
        batch.add_column(sa.Column("quiet_hours", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("safety_round") as batch:
        batch.drop_column("quiet_hours")
    with op.batch_alter_table("prefecture") as batch:
        batch.drop_column("quiet_end")
        batch.drop_column("quiet_start")
