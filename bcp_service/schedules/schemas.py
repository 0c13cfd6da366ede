"""Request and response schemas for schedules, their firings and the system status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from bcp_service.escalation.policy import EscalationPolicy
from bcp_service.models.rounds import RoundKind, RoundReason
from bcp_service.models.schedules import FiringOutcome, MisfirePolicy
from bcp_service.rounds.targets import RoundTarget
from bcp_service.schedules.timing import zone

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Cron = Annotated[str, StringConstraints(strip_whitespace=True, min_length=9, max_length=100)]


class _Timing(BaseModel):
    @field_validator("timezone", check_fields=False)
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone(value)
        return value


class ScheduleCreate(_Timing):
    model_config = ConfigDict(extra="forbid")

    name: Name
    cron: Cron | None = Field(None, description="five crontab fields in the schedule's time zone, e.g. '0 10 1 * *'")
    interval_minutes: Annotated[int, Field(ge=1, le=366 * 24 * 60)] | None = Field(
        None, description="fixed interval from starts_at (or creation), e.g. 360 for every six hours"
    )
    timezone: str = "Asia/Tokyo"
    target: RoundTarget
    drill: bool = False
    reason: RoundReason = RoundReason.scheduled
    kind: RoundKind = Field(
        RoundKind.safety_check,
        description="advance_notice: 事前連絡 before a forecast "
        "hazard, e.g. every 6 hours from two days before a typhoon's landfall until ends_at",
    )
    title: Title | None = None
    deadline_hours: Annotated[float, Field(gt=0, le=24 * 30)] | None = None
    escalation_policy: EscalationPolicy | None = Field(None, description="default: the service's policy")
    active: bool = True
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = Field(None, description="no firing after this (e.g. once the typhoon has passed)")
    misfire_policy: MisfirePolicy = MisfirePolicy.run_once
    misfire_grace_seconds: Annotated[int, Field(ge=0, le=7 * 24 * 3600)] | None = None

    @model_validator(mode="after")
    def _one_timing(self) -> ScheduleCreate:
        if (self.cron is None) == (self.interval_minutes is None):
            raise ValueError("give exactly one of cron or interval_minutes")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class ScheduleUpdate(_Timing):
    """Fields left out keep their value; send ``null`` to clear an optional one."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    cron: Cron | None = None
    interval_minutes: Annotated[int, Field(ge=1, le=366 * 24 * 60)] | None = None
    timezone: str | None = None
    target: RoundTarget | None = None
    drill: bool | None = None
    reason: RoundReason | None = None
    kind: RoundKind | None = None
    title: Title | None = None
    deadline_hours: Annotated[float, Field(gt=0, le=24 * 30)] | None = None
    escalation_policy: EscalationPolicy | None = None
    active: bool | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    misfire_policy: MisfirePolicy | None = None
    misfire_grace_seconds: Annotated[int, Field(ge=0, le=7 * 24 * 3600)] | None = None


class SchedulePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    cron: str | None
    interval_minutes: int | None
    timezone: str
    target: dict
    drill: bool
    reason: str
    kind: str = "safety_check"
    title: str | None
    deadline_hours: float | None
    escalation_policy: dict | None
    active: bool
    starts_at: datetime | None
    ends_at: datetime | None
    misfire_policy: str
    misfire_grace_seconds: int | None
    effective_from: datetime
    created_by_name: str
    created_at: datetime
    updated_at: datetime
    next_fire_times: list[datetime] = Field(default_factory=list, description="the next few, in the schedule's zone")
    last_firing: FiringPublic | None = None


class FiringPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    schedule_id: int
    fire_time: datetime
    fired_at: datetime
    outcome: FiringOutcome
    round_id: int | None
    late_seconds: float
    coalesced: int
    error: str | None
    instance_id: str


SchedulePublic.model_rebuild()
