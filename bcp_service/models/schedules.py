"""Recurring rounds and each firing of them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from bcp_service.models.base import UtcDateTime, created_at_field, timestamp_field


class MisfirePolicy(StrEnum):
    # The latest missed fire time runs once if it is no later than the grace period (docs/escalation.md).
    run_once = "run_once"
    # A fire time more than a tick late is recorded as missed and never run.
    skip = "skip"


class FiringOutcome(StrEnum):
    started = "started"
    missed = "missed"
    failed = "failed"


class RoundSchedule(SQLModel, table=True):
    __tablename__ = "round_schedule"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    # Exactly one of the two: a five-field crontab line, or a fixed interval from starts_at.
    cron: str | None = Field(default=None, max_length=100)
    interval_minutes: int | None = None
    timezone: str = Field(default="Asia/Tokyo", max_length=50)
    # The same shape as SafetyRound.target (rounds.targets.RoundTarget).
    target: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    drill: bool = Field(default=False)
    reason: str = Field(default="scheduled", max_length=20)
    kind: str = Field(default="safety_check", max_length=20, sa_column_kwargs={"server_default": "safety_check"})
    title: str | None = Field(default=None, max_length=200)
    deadline_hours: float | None = None
    escalation_policy: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    active: bool = Field(default=True, index=True)
    starts_at: datetime | None = timestamp_field()
    ends_at: datetime | None = timestamp_field()
    misfire_policy: str = Field(default=MisfirePolicy.run_once, max_length=10)
    misfire_grace_seconds: int | None = None  # None: the setting schedule_misfire_grace_seconds
    # Fire times at or before this are never due: set on creation, on (re)activation and when the
    # timing changes, so that a schedule edited today does not "miss" last month's fire times.
    effective_from: datetime = created_at_field()
    # Who created it decides whom its rounds may reach (their scope), as for a round they start.
    created_by_user_id: int | None = None
    created_by_name: str = Field(max_length=100)
    created_by_role: str = Field(max_length=20)
    created_by_scope_id: int | None = None
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    deleted_at: datetime | None = timestamp_field()


class ScheduleFiring(SQLModel, table=True):
    """One fire time of a schedule. The unique key is what makes firing exactly-once."""

    __tablename__ = "schedule_firing"
    __table_args__ = (UniqueConstraint("schedule_id", "fire_time", name="uq_schedule_firing_fire_time"),)

    id: int | None = Field(default=None, primary_key=True)
    schedule_id: int = Field(foreign_key="round_schedule.id")
    fire_time: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    fired_at: datetime = created_at_field()
    outcome: str = Field(max_length=10)
    round_id: int | None = Field(default=None, foreign_key="safety_round.id")
    late_seconds: float = Field(default=0)
    # Earlier fire times folded into this one (the scheduler was down across several).
    coalesced: int = Field(default=0)
    error: str | None = Field(default=None, max_length=500)
    instance_id: str = Field(max_length=100)
