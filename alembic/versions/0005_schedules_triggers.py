"""schedules, scheduler heartbeats, outside-event triggers, escalation history

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-22

A branch from 0003 next to 0004 and 0006; ``bcp-service db upgrade`` applies all heads.
``schedule_firing`` has UNIQUE (schedule_id, fire_time): that key is what makes a schedule fire
once per fire time however many scheduler processes run (docs/escalation.md).

The escalation job looks for unanswered checks by (round, step); the partial index on
``safety_check`` serves exactly that query. Its model-side declaration is in
``models/escalation.py`` (attached to the rounds package's table, which stays untouched).
"""

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

# Checks the escalation job still acts on (escalation/jobs.py ESCALATING_STATES).
ESCALATING = "state IN ('no_answer', 'delivery_failed')"


def upgrade() -> None:
    op.create_table(
        "round_schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("cron", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("interval_minutes", sa.Integer(), nullable=True),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("deadline_hours", sa.Float(), nullable=True),
        sa.Column("escalation_policy", sa.JSON(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("misfire_policy", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("misfire_grace_seconds", sa.Integer(), nullable=True),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_by_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_by_role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_by_scope_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("round_schedule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_round_schedule_active"), ["active"], unique=False)

    op.create_table(
        "service_heartbeat",
        sa.Column("instance_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("host", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("process_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("info", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("instance_id"),
    )
    with op.batch_alter_table("service_heartbeat", schema=None) as batch_op:
        batch_op.create_index("ix_service_heartbeat_name_beat", ["name", "beat_at"], unique=False)

    op.create_table(
        "trigger_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("info_type", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("hazard", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("municipality_severity", sa.JSON(), nullable=False),
        sa.Column("unmatched_codes", sa.JSON(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_by_user_id", sa.Integer(), nullable=True),
        sa.Column("received_by_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("trigger_report", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trigger_report_event_id"), ["event_id"], unique=False)

    op.create_table(
        "schedule_firing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("fire_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=True),
        sa.Column("late_seconds", sa.Float(), nullable=False),
        sa.Column("coalesced", sa.Integer(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("instance_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["safety_round.id"],
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["round_schedule.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_id", "fire_time", name="uq_schedule_firing_fire_time"),
    )
    op.create_table(
        "trigger_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hazard", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("municipalities", sa.JSON(), nullable=False),
        sa.Column("max_severity", sa.Integer(), nullable=False),
        sa.Column("municipality_severity", sa.JSON(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("round_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["safety_round.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "seq", name="uq_trigger_event_seq"),
    )
    with op.batch_alter_table("trigger_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trigger_event_event_id"), ["event_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_trigger_event_first_seen_at"), ["first_seen_at"], unique=False)
        batch_op.create_index("ix_trigger_event_state_not_before", ["state", "not_before"], unique=False)

    op.create_table(
        "trigger_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("reason_ja", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("municipalities", sa.JSON(), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("excluded", sa.JSON(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["trigger_event.id"],
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["trigger_report.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("trigger_decision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trigger_decision_decided_at"), ["decided_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_trigger_decision_event_id"), ["event_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_trigger_decision_reason"), ["reason"], unique=False)
        batch_op.create_index(batch_op.f("ix_trigger_decision_record_id"), ["record_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_trigger_decision_report_id"), ["report_id"], unique=False)

    op.create_table(
        "check_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["check_id"],
            ["safety_check.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("check_event", schema=None) as batch_op:
        batch_op.create_index("ix_check_event_check", ["check_id", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_check_event_round_id"), ["round_id"], unique=False)

    op.execute(
        f"CREATE INDEX ix_safety_check_escalation ON safety_check (round_id, escalation_step, id) WHERE {ESCALATING}"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_safety_check_escalation")
    with op.batch_alter_table("check_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_check_event_round_id"))
        batch_op.drop_index("ix_check_event_check")

    op.drop_table("check_event")
    with op.batch_alter_table("trigger_decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trigger_decision_report_id"))
        batch_op.drop_index(batch_op.f("ix_trigger_decision_record_id"))
        batch_op.drop_index(batch_op.f("ix_trigger_decision_reason"))
        batch_op.drop_index(batch_op.f("ix_trigger_decision_event_id"))
        batch_op.drop_index(batch_op.f("ix_trigger_decision_decided_at"))

    op.drop_table("trigger_decision")
    with op.batch_alter_table("trigger_event", schema=None) as batch_op:
        batch_op.drop_index("ix_trigger_event_state_not_before")
        batch_op.drop_index(batch_op.f("ix_trigger_event_first_seen_at"))
        batch_op.drop_index(batch_op.f("ix_trigger_event_event_id"))

    op.drop_table("trigger_event")
    op.drop_table("schedule_firing")
    with op.batch_alter_table("trigger_report", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trigger_report_event_id"))

    op.drop_table("trigger_report")
    with op.batch_alter_table("service_heartbeat", schema=None) as batch_op:
        batch_op.drop_index("ix_service_heartbeat_name_beat")

    op.drop_table("service_heartbeat")
    with op.batch_alter_table("round_schedule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_round_schedule_active"))

    op.drop_table("round_schedule")
