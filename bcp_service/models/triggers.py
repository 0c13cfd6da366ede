"""Outside events that may start a round: each report received, each decision, each event's start."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bcp_service.models.base import UtcDateTime, created_at_field, timestamp_field


class RecordState(StrEnum):
    pending = "pending"  # waiting for not_before; a correction or cancellation can still change it
    started = "started"  # the round exists (round_id)
    cancelled = "cancelled"  # by a cancellation bulletin, a correction, or a person
    failed = "failed"  # start_round refused (error says why); covers nothing
    ignored = "ignored"  # the event started nothing; kept as history.apply_decision does


class TriggerReport(SQLModel, table=True):
    """One bulletin or JSON event as received, with a digest of the exact bytes."""

    __tablename__ = "trigger_report"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=10)  # "jma_xml" | "json"
    kind: str = Field(max_length=10)  # "VXSE51" | "VXSE53" | "json"
    event_id: str = Field(max_length=64, index=True)
    status: str = Field(max_length=10)  # normal | drill | test
    info_type: str = Field(max_length=12)  # issue | correction | cancel
    hazard: str = Field(max_length=20)
    severity: int = 0
    municipality_severity: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    unmatched_codes: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    title: str = Field(max_length=200)
    reported_at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    received_at: datetime = created_at_field()
    received_by_user_id: int | None = None
    received_by_name: str = Field(max_length=100)
    digest: str = Field(max_length=64)  # sha256 of the body
    size: int = 0
    # Bulletins are public data; the body is kept so a decision can be re-examined later.
    raw: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class TriggerRecord(SQLModel, table=True):
    """What is known about one event and its round: the DB form of ``triggers.schemas.PriorEvent``.

    One row per (event id, round); changed exactly as ``triggers.history.apply_decision`` changes
    the list, and moved from pending to started by the runner (``triggers.runner``).
    """

    __tablename__ = "trigger_event"
    __table_args__ = (
        UniqueConstraint("event_id", "seq", name="uq_trigger_event_seq"),
        Index("ix_trigger_event_state_not_before", "state", "not_before"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=64, index=True)
    seq: int = 1  # rounds of the same event: the round's idempotency key is trigger:{event_id}:{seq}
    hazard: str = Field(max_length=20)
    drill: bool = Field(default=False)
    title: str = Field(default="", max_length=200)
    municipalities: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    max_severity: int = 0
    municipality_severity: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # event id -> the severities that event brought (its own, and events merged into this pending round),
    # so that cancelling a merged event takes back only its part. Empty on rows older than 0014.
    contributions: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    first_seen_at: datetime = Field(sa_type=UtcDateTime(), nullable=False, index=True)
    state: str = Field(max_length=10)
    not_before: datetime | None = timestamp_field()
    round_id: int | None = Field(default=None, foreign_key="safety_round.id")
    started_at: datetime | None = timestamp_field()
    cancelled_at: datetime | None = timestamp_field()
    cancelled_by: str | None = Field(default=None, max_length=100)
    error: str | None = Field(default=None, max_length=500)
    updated_at: datetime = created_at_field()


class TriggerDecision(SQLModel, table=True):
    """Every decision with its reason, including "ignore": the API shows why nothing happened."""

    __tablename__ = "trigger_decision"

    id: int | None = Field(default=None, primary_key=True)
    report_id: int | None = Field(default=None, foreign_key="trigger_report.id", index=True)  # None: a person decided
    record_id: int | None = Field(default=None, foreign_key="trigger_event.id", index=True)
    event_id: str = Field(max_length=64, index=True)
    action: str = Field(max_length=20)
    reason: str = Field(max_length=40, index=True)
    reason_ja: str = Field(max_length=1000)
    drill: bool = Field(default=False)
    municipalities: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    severity: int = 0
    excluded: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    not_before: datetime | None = timestamp_field()
    decided_at: datetime = Field(sa_type=UtcDateTime(), nullable=False, index=True)
