"""Clinical truth: a structured answer (power, hours or "unknown", transport, admission, where
evacuated), the latest of it on the check, and designation rules per prefecture as data.

New states (admitted, evacuated) need no schema change: states are plain strings, and the
board's partial indexes cover the same "needs help" and "silent" groups as before
(bcp_service.rounds.states).

Revision ID: 0009_clinical
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from bcp_service.registry.designation_rules import rows_for_migration

revision = "0009_clinical"
down_revision = "0008"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString


def _answer_columns() -> list[sa.Column]:
    return [
        sa.Column("power", _STR(length=10), nullable=True),
        sa.Column("hours_unknown", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("needs_transport", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("needs_admission", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("evacuated_to", _STR(length=200), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("check_answer") as batch:
        for column in _answer_columns():
            batch.add_column(column)
    with op.batch_alter_table("safety_check") as batch:
        for column in _answer_columns():
            batch.add_column(column)
        batch.add_column(sa.Column("note", _STR(length=1000), nullable=True))
    rules = op.create_table(
        "designation_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prefecture_code", _STR(length=2), nullable=True),
        sa.Column("designation", _STR(length=30), nullable=False),
        sa.Column("institution_kind", _STR(length=40), nullable=False),
        sa.Column("enhanced_only", sa.Boolean(), nullable=False),
        sa.Column("counts", sa.Boolean(), nullable=False),
        sa.Column("source", _STR(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prefecture_code", "designation", "institution_kind", "enhanced_only",
                            name="uq_designation_rule"),
    )
    op.create_index("ix_designation_rule_prefecture_code", "designation_rule", ["prefecture_code"])
    op.bulk_insert(rules, rows_for_migration())


def downgrade() -> None:
    op.drop_index("ix_designation_rule_prefecture_code", table_name="designation_rule")
    op.drop_table("designation_rule")
    with op.batch_alter_table("safety_check") as batch:
        batch.drop_column("note")
        for column in reversed(_answer_columns()):
            batch.drop_column(column.name)
    with op.batch_alter_table("check_answer") as batch:
        for column in reversed(_answer_columns()):
            batch.drop_column(column.name)
