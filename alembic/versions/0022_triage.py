"""A reply waiting in the review queue marks the checks it may belong to (issue 25.3).

``safety_check.review_reply_id`` names the newest unread ``unmatched_reply`` of the patient: the board
and the nurse page show 「返信あり・要確認」 with its text and rank the check as needing help until
the reply is resolved (answered or dismissed) on /review. A partial index finds the marked checks of a
round (few) without scanning it.

Revision ID: 0022_triage
Revises: 0024_ops
Create Date: 2026-12-07
"""

import sqlalchemy as sa

from alembic import op

revision = "0022_triage"
down_revision = "0024_ops"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("safety_check") as batch:
        batch.add_column(sa.Column("review_reply_id", sa.Integer(), nullable=True))
    op.create_index(
        "ix_safety_check_review",
        "safety_check",
        ["round_id"],
        postgresql_where=sa.text("review_reply_id IS NOT NULL"),
        sqlite_where=sa.text("review_reply_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_safety_check_review", table_name="safety_check")
    with op.batch_alter_table("safety_check") as batch:
        batch.drop_column("review_reply_id")
