"""Response and request schemas for escalation, the follow-up queue and assignments."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from bcp_service.escalation.policy import EscalationStep
from bcp_service.rounds.schemas import CheckEventPublic


class CheckEscalation(BaseModel):
    check_id: int
    round_id: int
    state: str
    escalation_step: int = Field(description="steps taken so far")
    next_action: str | None = Field(description="the next step's action, None when escalation is over")
    next_action_at: datetime | None
    assigned_user_id: int | None
    events: list[CheckEventPublic]


class RoundEscalation(BaseModel):
    round_id: int
    running: bool = Field(description="escalation runs only while the round is running and its links are valid")
    steps: list[EscalationStep]
    step_times: list[datetime] = Field(description="when each step falls due for every unanswered check")
    taken: dict[str, int | None] = Field(
        description="checks per action taken so far (aggregate role: small counts null)"
    )
    follow_up: int | None = Field(
        description="unreachable checks (the nurses' follow-up queue); null: a small count hidden"
    )
    unassigned: int | None
    tiers: dict[str, list[EscalationStep]] = Field(
        {}, description="steps per risk tier (settings escalation_tier_steps), or 'all' for the round's own policy"
    )
    tier_times: dict[str, list[datetime]] = Field(
        {}, description="when each tier's steps fall due (the ladder as it will run), keyed as `tiers`"
    )
    quiet_hours: tuple[str, str] | None = Field(
        None,
        description="advance notice: family and call steps wait while local time is inside these hours "
        "(the prefecture's, kept at the round's start; with several prefectures, the first)",
    )
    quiet_hours_by_prefecture: dict[str, tuple[str, str]] = Field(
        {}, description="advance notice: the quiet hours of each prefecture the round reaches, by prefecture name"
    )


class Phone(BaseModel):
    kind: str
    phone: str


class FollowUpItem(BaseModel):
    check_id: int
    round_id: int
    drill: bool
    patient_id: int
    patient_name: str
    address: str | None
    phones: list[Phone]
    risk_tier: str
    municipality_id: int
    state: str
    hours_left: float | None
    unreachable_at: datetime | None
    assigned_user_id: int | None


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: int | None = Field(description="a nurse account; null gives the check back")
