"""What happened to a check besides its answers: escalation steps and nurse assignments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from bcp_service.models.base import UtcDateTime
from bcp_service.models.rounds import SafetyCheck

# The escalation job's claim: unanswered checks of a round by step (escalation/jobs.py). Declared
# here, on the rounds package's table, so the metadata matches migration 0005 without touching rounds.py.
ESCALATING = text("state IN ('no_answer', 'delivery_failed')")
Index(
    "ix_safety_check_escalation",
    SafetyCheck.__table__.c.round_id,
    SafetyCheck.__table__.c.escalation_step,
    SafetyCheck.__table__.c.id,
    postgresql_where=ESCALATING,
    sqlite_where=ESCALATING,
)


class CheckEvent(SQLModel, table=True):
    """One escalation step taken (resend, family, call, unreachable) or one (un)assignment."""

    __tablename__ = "check_event"
    __table_args__ = (Index("ix_check_event_check", "check_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    check_id: int = Field(foreign_key="safety_check.id")
    round_id: int = Field(index=True)
    kind: str = Field(max_length=12)  # "escalation" | "assigned" | "unassigned"
    step: int | None = None  # 1-based position in the round's policy
    action: str = Field(max_length=12)  # resend | family | call | unreachable | assign
    at: datetime = Field(sa_type=UtcDateTime(), nullable=False)
    messages: int = Field(default=0)  # outbox rows queued by this step
    # A code, never personal data: "no_contact", "no_family_contact", "2_contacts"...
    detail: str | None = Field(default=None, max_length=100)
    user_id: int | None = None  # the nurse assigned
    actor_name: str = Field(max_length=100)
