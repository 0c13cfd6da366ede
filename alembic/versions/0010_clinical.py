"""Clinical truth: a structured answer (power, hours or "unknown", transport, admission, where
evacuated), the latest of it on the check, and designation rules per prefecture as data.

New states (admitted, evacuated) need no schema change: states are plain strings, and the
board's partial indexes cover the same "needs help" and "silent" groups as before
(bcp_service.check_states).

Revision ID: 0010_clinical
Revises: 0009_pagesa
Create Date: 2026-12-02
"""

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0010_clinical"
down_revision = "0009_pagesa"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
# Written out (not imported) so this migration never changes after the fact; the same rows are the
# code's fallback (registry.designation_rules.DEFAULT_RULES, checked equal by the tests).
# (prefecture code, designation, institution kind, enhanced only, counts, source)
RULES = [
    (None, "hub", "home_care_support_clinic", False, True, "厚生労働省 在宅医療の体制構築に係る指針"),
    (None, "hub", "home_care_support_hospital", False, True, "厚生労働省 在宅医療の体制構築に係る指針"),
    (None, "hub", "clinic", False, True, "厚生労働省 在宅医療の体制構築に係る指針"),
    (None, "hub", "hospital", False, True, "厚生労働省 在宅医療の体制構築に係る指針"),
    (None, "hub", "clinic_with_beds", False, True, "厚生労働省 在宅医療の体制構築に係る指針"),
    (None, "hub", "backup_hospital", False, True, "厚生労働省 在宅医療の体制構築に係る指針"),
    (None, "hub", "visiting_nurse_station", False, True, "厚生労働省 在宅医療の体制構築に係る指針"),
    (None, "hub", "medical_association", False, True, "厚生労働省 在宅医療の体制構築に係る指針"),
    (None, "hub", "public_health_center", False, True, "厚生労働省 在宅医療の体制構築に係る指針"),
    (None, "hub", "municipal_office", False, True, "厚生労働省 在宅医療の体制構築に係る指針"),
    (None, "active_institution", "home_care_support_clinic", False, True, "厚生労働省 在宅医療の体制構築に係る指針"),
    (None, "active_institution", "home_care_support_hospital", False, True, "厚生労働省 在宅医療の体制構築に係る指針"),
    (None, "active_institution", "clinic", False, True, "厚生労働省 在宅医療の体制構築に係る指針"),
    (None, "active_institution", "hospital", False, True, "厚生労働省 在宅医療の体制構築に係る指針"),
    (None, "active_institution", "clinic_with_beds", False, True, "厚生労働省 在宅医療の体制構築に係る指針"),
    (None, "active_institution", "backup_hospital", False, True, "厚生労働省 在宅医療の体制構築に係る指針"),
    (None, "active_institution", "visiting_nurse_station", False, True, "厚生労働省 在宅医療の体制構築に係る指針"),
    (None, "active_institution", "pharmacy", False, True, "厚生労働省 在宅医療の体制構築に係る指針"),
    (
        "12",
        "active_institution",
        "home_care_support_hospital",
        True,
        True,
        "千葉県 在宅医療WG資料 (2025): 積極的医療機関は機能強化型在宅療養支援病院",
    ),
    (
        "12",
        "active_institution",
        "home_care_support_hospital",
        False,
        False,
        "千葉県 在宅医療WG資料 (2025): 積極的医療機関は機能強化型在宅療養支援病院",
    ),
    (
        "12",
        "active_institution",
        "home_care_support_clinic",
        False,
        False,
        "千葉県 在宅医療WG資料 (2025): 積極的医療機関は機能強化型在宅療養支援病院",
    ),
]


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
        sa.UniqueConstraint(
            "prefecture_code", "designation", "institution_kind", "enhanced_only", name="uq_designation_rule"
        ),
    )
    op.create_index("ix_designation_rule_prefecture_code", "designation_rule", ["prefecture_code"])
    keys = ("prefecture_code", "designation", "institution_kind", "enhanced_only", "counts", "source")
    op.bulk_insert(rules, [dict(zip(keys, row, strict=True)) for row in RULES])


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
