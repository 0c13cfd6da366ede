"""bcp drafts

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-22

Branches from 0002 next to the rounds migration (0003) on purpose; a merge revision joins the two
heads. ``bcp-service db upgrade`` applies all heads.
"""

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bcp_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("plan_kind", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_by_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_by_user_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_by_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_comment", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
        sa.Column("finalised_by_user_id", sa.Integer(), nullable=True),
        sa.Column("finalised_by_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("finalised_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completeness", sa.Float(), nullable=False),
        sa.Column("blank_count", sa.Integer(), nullable=False),
        sa.Column("patient_count", sa.Integer(), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("blanks", sa.JSON(), nullable=False),
        sa.Column("patient_ids", sa.JSON(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["app_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["finalised_by_user_id"],
            ["app_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_user_id"],
            ["app_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("institution_id", "version"),
    )
    with op.batch_alter_table("bcp_draft", schema=None) as batch_op:
        batch_op.create_index("ix_bcp_draft_institution_state", ["institution_id", "state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bcp_draft", schema=None) as batch_op:
        batch_op.drop_index("ix_bcp_draft_institution_state")
    op.drop_table("bcp_draft")
