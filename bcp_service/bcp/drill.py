"""The last safety-check drill that included an institution's patients, for the plan's training section.

Kept apart because it is the only part of a draft that reads the rounds tables.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from bcp_service.bcp.context import Drill
from bcp_service.models import CheckAnswer, Patient, SafetyCheck, SafetyRound
from bcp_service.models.rounds import ANSWER_STATES
from bcp_service.timeutil import display_zone

_ANSWERED = [str(state) for state in ANSWER_STATES]


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone-aware columns; they were stored in UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def last_drill_for(session: Session, institution_id: int) -> Drill | None:
    """Counts over this institution's patients only, not the whole drill, since that is what the
    institution is accountable for. Answered means a person or device reported a state."""
    linked = select(Patient.id).where(
        or_(
            Patient.active_institution_id == institution_id,
            Patient.visiting_nurse_station_id == institution_id,
            Patient.backup_hospital_id == institution_id,
        )
    )
    # Only the columns needed: the rounds tables are still growing, and this must not depend on the rest.
    drill = session.exec(
        select(SafetyRound.id, SafetyRound.started_at, SafetyRound.title)
        .where(
            col(SafetyRound.drill).is_(True),
            col(SafetyRound.id).in_(select(SafetyCheck.round_id).where(col(SafetyCheck.patient_id).in_(linked))),
        )
        .order_by(col(SafetyRound.started_at).desc(), col(SafetyRound.id).desc())
        .limit(1)
    ).first()
    if drill is None:
        return None
    round_id, started_at, title = drill
    checks = session.exec(
        select(SafetyCheck.id, SafetyCheck.state).where(
            SafetyCheck.round_id == round_id, col(SafetyCheck.patient_id).in_(linked)
        )
    ).all()
    answered_ids = [check_id for check_id, state in checks if state in _ANSWERED]
    started = _aware(started_at)
    minutes: list[float] = []
    if answered_ids:
        for _check_id, first in session.exec(
            select(CheckAnswer.check_id, func.min(CheckAnswer.observed_at))
            .where(col(CheckAnswer.check_id).in_(answered_ids), col(CheckAnswer.state).in_(_ANSWERED))
            .group_by(CheckAnswer.check_id)
        ):
            if first is not None:
                minutes.append(max(0.0, (_aware(first) - started).total_seconds() / 60))
    return Drill(
        held_on=started.astimezone(display_zone()).date(),
        round_name=title or "安否確認訓練",
        target_count=len(checks),
        answered_count=len(answered_ids),
        median_minutes_to_answer=round(statistics.median(minutes), 1) if minutes else None,
    )
