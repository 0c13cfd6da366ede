"""Regions redrawn on pages with an effective date and a history (region_change), and a patient's hub
that follows the map unless pinned by hand (patient.hub_pinned) (issue 27.1, 27.2).

Revision ID: 0028_regions
Revises: 0030_plans
Create Date: 2026-12-07
"""

import sqlalchemy as sa

from alembic import op

revision = "0028_regions"
down_revision = "0030_plans"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patient") as batch:
        batch.add_column(sa.Column("hub_pinned", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    op.create_table(
        "region_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prefecture_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("outcome", sa.String(length=1000), nullable=True),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["prefecture_id"], ["prefecture.id"]),
        sa.ForeignKeyConstraint(["created_by_user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_region_change_prefecture_id", "region_change", ["prefecture_id"])
    op.create_index("ix_region_change_status", "region_change", ["status"])


def downgrade() -> None:
    op.drop_index("ix_region_change_status", table_name="region_change")
    op.drop_index("ix_region_change_prefecture_id", table_name="region_change")
    op.drop_table("region_change")
    with op.batch_alter_table("patient") as batch:
        batch.drop_column("hub_pinned")
