"""Operations: the health probe's table and the record of rounds restored from a backup.

``health_probe`` stays empty: ``/healthz`` truncates it and inserts a row in one transaction that it
rolls back, which needs a new file in the tablespace (PostgreSQL) and so fails when the disk is full.
Keep it in the same tablespace as the other tables. ``round_restore`` marks each round that was open
when ``bcp-service db restore`` ran (issue 28 item 3).

Revision ID: 0024_ops
Revises: 0021_incid
Create Date: 2026-12-07
"""

import sqlalchemy as sa

from alembic import op

revision = "0024_ops"
down_revision = "0021_incid"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "health_probe",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("filler", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "round_restore",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("round_id", sa.Integer(), sa.ForeignKey("safety_round.id"), nullable=False),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("backup_taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("suppressed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("possibly_missing", sa.JSON(), nullable=False),
    )
    op.create_index("ix_round_restore_round", "round_restore", ["round_id"])


def downgrade() -> None:
    op.drop_index("ix_round_restore_round", table_name="round_restore")
    op.drop_table("round_restore")
    op.drop_table("health_probe")
