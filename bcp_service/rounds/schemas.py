"""Request and response schemas for rounds, checks and the reply review queue."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bcp_service.models.rounds import CheckState, RoundKind, RoundReason, RoundState
from bcp_service.rounds.targets import RoundTarget


class CheckEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str = Field(description="escalation, assigned or unassigned")
    step: int | None = Field(description="1-based step of the round's policy")
    action: str = Field(description="resend, family, call, unreachable, or assign")
    at: datetime
    messages: int = Field(description="messages or calls queued by the step")
    detail: str | None = Field(description="e.g. 2_contacts, no_contact, no_family_contact")
    user_id: int | None
    actor_name: str


AnswerState = CheckState
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class RoundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: RoundReason
    kind: RoundKind = Field(
        RoundKind.safety_check,
        description="safety_check (安否確認) or advance_notice "
        "(事前連絡: before a forecast typhoon, heavy rain or planned outage)",
    )
    drill: bool = False
    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    deadline: datetime | None = Field(None, description="answers are expected by then; default: 72 hours")
    target: RoundTarget
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        None, description="the same key starts one round, not two (the Idempotency-Key header also works)"
    )


class RoundPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    reason: RoundReason
    kind: RoundKind = RoundKind.safety_check
    drill: bool
    label: str = Field(description="【訓練】 for drills, empty otherwise; show it wherever the round appears")
    title: str | None
    started_by_name: str
    started_at: datetime
    deadline: datetime | None
    expires_at: datetime
    state: RoundState
    closed_at: datetime | None
    closed_by_name: str | None
    target: dict = Field(description="what was targeted (ids); empty for the aggregate role")
    target_count: int | None = Field(description="None: a small cell hidden from the aggregate role")
    message_count: int | None
    no_contact_count: int | None
    # incid (docs/incidents.md): the disaster whose rounds share one conversation per person.
    incident_id: int | None = Field(default=None, description="the incident (one disaster) this round is part of")
    hazard: str | None = Field(
        default=None, description="the hazard a trigger started it for (earthquake, tsunami, ...)"
    )


class StateCounts(BaseModel):
    key: str
    name: str | None = None
    counts: dict[str, int | None]
    total: int | None
    suppressed: bool = False


class RoundSummary(BaseModel):
    round_id: int
    drill: bool
    label: str
    state: RoundState
    total: int | None = Field(description="None: hidden from the aggregate role (small-cell suppression)")
    answered: int | None
    by_state: dict[str, int | None]
    by_risk_tier: list[StateCounts]
    by_region: list[StateCounts]
    by_municipality: list[StateCounts]
    messages: dict[str, int] = Field(description="outbox messages by delivery state (not shown to the aggregate role)")
    min_cell: int = 0


class AnswerPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    state: CheckState
    hours_left: float | None
    note: str | None
    channel: str
    answered_by: str | None
    observed_at: datetime
    received_at: datetime


class MessagePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str
    to_number: str
    state: str
    attempts: int
    last_error_code: str | None
    provider_message_id: str | None
    created_at: datetime
    sent_at: datetime | None
    status_at: datetime | None


class CheckPublic(BaseModel):
    id: int
    round_id: int
    drill: bool
    patient_id: int
    patient_name: str
    risk_tier: str
    municipality_id: int
    region_id: int | None
    hub_id: int | None
    state: CheckState
    hours_left: float | None
    last_answer_at: datetime | None
    last_channel: str | None
    delivery: str | None = Field(None, description="state of the latest message")
    assigned_user_id: int | None
    planned_stay: str | None = Field(
        None, description="where the patient said they will stay (advance notice): home, shelter, relative, hospital"
    )
    planned_stay_place: str | None = None
    planned_stay_at: datetime | None = Field(None, description="when they said it (the registry keeps the latest)")


class CheckDetail(CheckPublic):
    answers: list[AnswerPublic]
    messages: list[MessagePublic]
    escalation_step: int = Field(0, description="escalation steps taken (docs/escalation.md)")
    escalation: list[CheckEventPublic] = Field(
        default_factory=list, description="escalation steps and nurse assignments, with their times"
    )


class UnmatchedReplyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    from_number: str
    body: str
    received_at: datetime
    reason: str
    parsed_state: str | None
    parsed_hours: float | None
    candidate_check_id: int | None
    resolved_at: datetime | None
    resolved_by_name: str | None
    resolution: str | None
    resolved_check_id: int | None


class UnmatchedResolve(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check_id: int | None = Field(None, description="the check the reply answers; leave out to dismiss")
    state: AnswerState | None = None
    hours_left: Annotated[float, Field(ge=0, le=720)] | None = None
    note: Note | None = None


class OutboxStatus(BaseModel):
    messages: dict[str, int]
    due_now: int
    workers: list[dict]
