"""Finished BCP plans: the file an institution adopted (.docx or .pdf), one row per upload, kept in the
database so a backup holds it on both engines (issue 27.8, bcp/plans.py).

Revision ID: 0030_plans
Revises: 0034_quiet
Create Date: 2026-12-07
"""

import sqlalchemy as sa

from alembic import op

revision = "0030_plans"
down_revision = "0034_quiet"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bcp_plan",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("institution_id", sa.Integer(), sa.ForeignKey("institution.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("file_type", sa.String(length=10), nullable=False),
        sa.Column("original_name", sa.String(length=200), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("draft_id", sa.Integer(), sa.ForeignKey("bcp_draft.id"), nullable=True),
        sa.Column("uploaded_by_user_id", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=True),
        sa.Column("uploaded_by_name", sa.String(length=100), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("institution_id", "version"),
    )


def downgrade() -> None:
    op.drop_table("bcp_plan")
