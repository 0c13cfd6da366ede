"""Safety-check rounds: the round, one check per patient, every answer, and the board's counters."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, SmallInteger, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from bcp_service import check_states as states
from bcp_service.models.base import UtcDateTime, created_at_field, timestamp_field


class RoundReason(StrEnum):
    disaster = "disaster"
    scheduled = "scheduled"
    manual = "manual"


class RoundKind(StrEnum):
    safety_check = "safety_check"  # 安否確認: during or after a disaster
    advance_notice = "advance_notice"  # 事前連絡: before a forecast hazard (prepare, charge, where you will stay)


class RoundState(StrEnum):
    running = "running"
    closed = "closed"


class CheckState(StrEnum):
    no_answer = "no_answer"
    safe = "safe"
    needs_help = "needs_help"
    power_out = "power_out"
    needs_transport = "needs_transport"
    admitted = "admitted"
    evacuated = "evacuated"
    unreachable = "unreachable"
    delivery_failed = "delivery_failed"


# States a person or device reports; the others are what the service concludes without an answer.
# The table of states (labels, groups, digits, weights) is bcp_service.check_states.
ANSWER_STATES = tuple(CheckState(code) for code in states.ANSWER_CODES)
# Every state in the table's order: the board's columns and the round page's bar.
STATE_ORDER = tuple(CheckState(code) for code in states.CODES)


class Power(StrEnum):
    on = "on"
    out = "out"
    unknown = "unknown"


class AnswerChannel(StrEnum):
    link = "link"
    sms = "sms"
    voice = "voice"
    nurse = "nurse"


class SafetyRound(SQLModel, table=True):
    __tablename__ = "safety_round"

    id: int | None = Field(default=None, primary_key=True)
    reason: str = Field(max_length=20)
    kind: str = Field(
        default=RoundKind.safety_check, max_length=20, sa_column_kwargs={"server_default": "safety_check"}
    )
    drill: bool = Field(default=False)
    title: str | None = Field(default=None, max_length=200)
    started_by_user_id: int | None = Field(default=None, foreign_key="app_user.id")
    # "admin", "system:scheduler"...: kept as text so a deleted account or a trigger still reads.
    started_by_name: str = Field(max_length=100)
    # Role and scope of the starter: who else may close the round (see rounds.service.may_close).
    started_by_role: str = Field(default="system", max_length=20)
    started_by_scope_id: int | None = None
    started_at: datetime = created_at_field()
    deadline: datetime | None = timestamp_field()
    # Answer links stop working at this time (the deadline plus a grace period, or the close).
    expires_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    state: str = Field(default=RoundState.running, max_length=10, index=True)
    closed_at: datetime | None = timestamp_field()
    closed_by_name: str | None = Field(default=None, max_length=100)
    target: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    idempotency_key: str | None = Field(default=None, max_length=200, unique=True)
    escalation_policy: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    target_count: int = Field(default=0)
    message_count: int = Field(default=0)
    no_contact_count: int = Field(default=0)
    # The disaster this round is part of (rounds.incidents): one conversation per person across its rounds.
    incident_id: int | None = Field(default=None, index=True)
    # The hazard that started it (a trigger's "earthquake", "tsunami", ...): how long an answer stays fresh.
    hazard: str | None = Field(default=None, max_length=20)
    # A notice round's quiet hours, per prefecture, as they were at its start (rounds.quiet.rule_for).
    quiet_hours: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class SafetyCheck(SQLModel, table=True):
    __tablename__ = "safety_check"
    __table_args__ = (
        UniqueConstraint("patient_id", "round_id", name="uq_safety_check_patient_round"),
        Index("ix_safety_check_round_state", "round_id", "state"),
        Index(
            "ix_safety_check_assigned",
            "assigned_user_id",
            postgresql_where=text("assigned_user_id IS NOT NULL"),
            sqlite_where=text("assigned_user_id IS NOT NULL"),
        ),
        Index(
            "ix_safety_check_follows",
            "follows_check_id",
            postgresql_where=text("follows_check_id IS NOT NULL"),
            sqlite_where=text("follows_check_id IS NOT NULL"),
        ),
        Index(
            "ix_safety_check_review",
            "round_id",
            postgresql_where=text("review_reply_id IS NOT NULL"),
            sqlite_where=text("review_reply_id IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    # No foreign keys here: checks are only ever made by INSERT ... SELECT from the round's own
    # transaction and from patients (never deleted), and checking 2 x 200,000 references at round
    # start cost seconds of the 10 s budget.
    round_id: int
    patient_id: int
    # Copied at the start so the board groups by where the patient was when the round began.
    risk_tier: str = Field(max_length=20)
    municipality_id: int
    region_id: int | None = None
    hub_id: int | None = None
    state: str = Field(default=CheckState.no_answer, max_length=20)
    hours_left: float | None = None
    # The latest answer's structure (see CheckAnswer): what a nurse needs without opening the history.
    power: str | None = Field(default=None, max_length=10)
    hours_unknown: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    needs_transport: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    needs_admission: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    evacuated_to: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=1000)
    last_answer_at: datetime | None = timestamp_field()
    last_channel: str | None = Field(default=None, max_length=10)
    escalation_step: int = Field(default=0)
    next_action_at: datetime | None = timestamp_field()
    assigned_user_id: int | None = None
    created_at: datetime = created_at_field()
    # The newest unread reply (unmatched_reply) that may be this patient's: 「返信あり・要確認」, ranked
    # as needing help until the reply is resolved on /review (answers.review).
    review_reply_id: int | None = None
    # Set when the same person's conversation of this incident runs in an earlier round's check: this
    # check sends nothing and does not escalate; answers to either are recorded on both (rounds.incidents).
    follows_check_id: int | None = None


class Incident(SQLModel, table=True):
    """One disaster in one area: the rounds started for it (quake, tsunami, aftershocks, a blackout it caused)."""

    __tablename__ = "incident"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    drill: bool = Field(default=False)
    # Hazards of its rounds in the order they came, and the trigger events' base ids (a tsunami's is its quake's).
    hazards: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    event_ids: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    opened_at: datetime = created_at_field()
    last_round_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)


class CheckAnswer(SQLModel, table=True):
    """The history of answers of one check. The check shows the latest by ``observed_at``."""

    __tablename__ = "check_answer"

    id: int | None = Field(default=None, primary_key=True)
    check_id: int = Field(foreign_key="safety_check.id", index=True)
    round_id: int
    state: str = Field(max_length=20)
    # Hours of battery or oxygen left: a number, or hours_unknown (said "don't know"), or neither (not asked).
    hours_left: float | None = None
    power: str | None = Field(default=None, max_length=10)  # Power: on / out / unknown; None = not said
    hours_unknown: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    needs_transport: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    needs_admission: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    evacuated_to: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=1000)
    channel: str = Field(max_length=10)
    # "self", "family", "carer" (from the contact that answered), "reviewer", "nurse", ...
    answered_by: str | None = Field(default=None, max_length=20)
    user_id: int | None = None
    contact_id: int | None = None
    observed_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    received_at: datetime = created_at_field()
    # "sms:<MessageSid>", "link:<nonce>", ...: a repeated delivery records nothing new.
    idempotency_key: str | None = Field(default=None, max_length=200, unique=True)


class RoundCounter(SQLModel, table=True):
    """Checks per (round, dimension, key, state), kept in step with every state change.

    Dimensions: ``all`` (key ""), ``risk_tier``, ``region``, ``municipality``, ``hub`` (key "" when
    unknown). The live board reads these rows instead of counting checks.
    """

    __tablename__ = "round_counter"

    round_id: int = Field(primary_key=True)
    dimension: str = Field(primary_key=True, max_length=20)
    key: str = Field(primary_key=True, max_length=40)
    state: str = Field(primary_key=True, max_length=20)
    # Writers move their own shard (rounds.counters.shard); a count is the sum over shards.
    shard: int = Field(default=0, primary_key=True, sa_type=SmallInteger, sa_column_kwargs={"server_default": "0"})
    count: int = Field(default=0)


class UnmatchedReply(SQLModel, table=True):
    """SMS replies the service could not read or place: a person decides, nothing is dropped."""

    __tablename__ = "unmatched_reply"

    id: int | None = Field(default=None, primary_key=True)
    from_number: str = Field(max_length=20, index=True)
    to_number: str | None = Field(default=None, max_length=20)
    body: str = Field(max_length=2000)
    received_at: datetime = created_at_field()
    provider_message_id: str = Field(max_length=64, unique=True)
    # unreadable, ambiguous:<parser reason>, no_open_check, several_open_checks
    reason: str = Field(max_length=60)
    parsed_state: str | None = Field(default=None, max_length=20)
    parsed_hours: float | None = None
    # The check it probably belongs to, when exactly one was found (a reader still decides).
    candidate_check_id: int | None = None
    resolved_at: datetime | None = timestamp_field()
    resolved_by_user_id: int | None = None
    resolved_by_name: str | None = Field(default=None, max_length=100)
    resolution: str | None = Field(default=None, max_length=20)  # "answered" | "dismissed"
    resolved_check_id: int | None = None
    resolution_note: str | None = Field(default=None, max_length=1000)
