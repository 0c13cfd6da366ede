"""A round's escalation as a timeline of counts: re-sends, family, calls, unreachable, assignments.

Counts only (no patients): each line is one step of the policy taken at some minute, with how many
checks took it and how many messages or calls it queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from bcp_service.labels import ESCALATION_ACTION_LABELS
from bcp_service.models import CheckEvent

KIND_LABELS = {"escalation": "段階", "assigned": "割り当て", "unassigned": "割り当て解除"}


@dataclass(frozen=True)
class TimelineLine:
    at: datetime  # the first event of the line
    last_at: datetime
    kind: str
    step: int | None
    action: str
    checks: int
    messages: int

    @property
    def label(self) -> str:
        if self.kind == "unassigned":
            return "看護師の割り当て解除"
        return ESCALATION_ACTION_LABELS.get(self.action, self.action)


def round_timeline(*, session: Session, round_id: int, limit: int = 200) -> list[TimelineLine]:
    """Events grouped by kind, step and action; a step run again later (a new scheduler tick) stays one line."""
    rows = session.exec(
        select(
            CheckEvent.kind,
            CheckEvent.step,
            CheckEvent.action,
            func.min(CheckEvent.at),
            func.max(CheckEvent.at),
            func.count(func.distinct(CheckEvent.check_id)),
            func.sum(CheckEvent.messages),
        )
        .where(CheckEvent.round_id == round_id)
        .group_by(CheckEvent.kind, CheckEvent.step, CheckEvent.action)
        .order_by(func.min(CheckEvent.at))
        .limit(limit)
    ).all()
    return [
        TimelineLine(
            at=first, last_at=last, kind=kind, step=step, action=action, checks=checks, messages=int(messages or 0)
        )
        for kind, step, action, first, last, checks, messages in rows
    ]


def list_events(*, session: Session, check_id: int) -> list[CheckEvent]:
    return list(
        session.exec(
            select(CheckEvent).where(CheckEvent.check_id == check_id).order_by(CheckEvent.at, CheckEvent.id)
        ).all()
    )
