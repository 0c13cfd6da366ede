"""Incidents: the rounds of one disaster in one area, and one conversation per person across them.

``incident`` holds the disaster; ``safety_round.incident_id`` and ``safety_round.hazard`` place a
round in it; ``safety_check.follows_check_id`` marks a check whose person's conversation runs in an
earlier round's check (it sends nothing and does not escalate; answers are recorded on both).

Revision ID: 0021_incid
Revises: 0020_chan
Create Date: 2026-12-07
"""

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0021_incid"
down_revision = "0020_chan"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("hazards", sa.JSON(), nullable=False),
        sa.Column("event_ids", sa.JSON(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_round_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("safety_round") as batch_op:
        batch_op.add_column(sa.Column("incident_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("hazard", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
    op.create_index("ix_safety_round_incident_id", "safety_round", ["incident_id"])
    with op.batch_alter_table("safety_check") as batch_op:
        batch_op.add_column(sa.Column("follows_check_id", sa.Integer(), nullable=True))
    op.create_index(
        "ix_safety_check_follows",
        "safety_check",
        ["follows_check_id"],
        postgresql_where=sa.text("follows_check_id IS NOT NULL"),
        sqlite_where=sa.text("follows_check_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_safety_check_follows", table_name="safety_check")
    with op.batch_alter_table("safety_check") as batch_op:
        batch_op.drop_column("follows_check_id")
    op.drop_index("ix_safety_round_incident_id", table_name="safety_round")
    with op.batch_alter_table("safety_round") as batch_op:
        batch_op.drop_column("hazard")
        batch_op.drop_column("incident_id")
    op.drop_table("incident")
