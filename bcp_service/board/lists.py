"""The people behind a board view: the priority list, the non-responders, the answer feed.

Personal data: callers audit what they show. Each list is the top of an index-backed query
(see alembic 0006), so a live update never sorts a whole round.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import and_, case, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from bcp_service.board.counts import AreaNames, ViewSpec
from bcp_service.board.schemas import ANSWERED, NEEDING, FeedRow, PersonRow
from bcp_service.clock import aware, aware_or_none
from bcp_service.contacts import callable_phone
from bcp_service.labels import planned_stay_text
from bcp_service.models import CheckAnswer, Institution, Patient, PatientContact, SafetyCheck, UnmatchedReply
from bcp_service.models.base import utcnow
from bcp_service.outages.service import power_out_municipality_ids
from bcp_service.rounds import triage

# Hours the registry expects the device to last without mains power: battery for a ventilator,
# cylinders for oxygen. Used to order people who did not say how long they have left.
EXPECTED_HOURS = case(
    (
        col(Patient.uses_ventilator).is_(True),
        func.coalesce(Patient.internal_battery_hours, 0) + func.coalesce(Patient.external_battery_hours, 0),
    ),
    (col(Patient.uses_oxygen).is_(True), Patient.cylinder_hours),
    else_=None,
)
PERSON_COLUMNS = (
    SafetyCheck.id,
    SafetyCheck.patient_id,
    Patient.name,
    SafetyCheck.state,
    SafetyCheck.risk_tier,
    SafetyCheck.hours_left,
    EXPECTED_HOURS.label("expected"),
    Patient.uses_ventilator,
    Patient.ventilator_mode,
    Patient.uses_oxygen,
    Patient.uses_suction,
    Patient.medically_dependent_child,
    SafetyCheck.municipality_id,
    SafetyCheck.last_answer_at,
    SafetyCheck.last_channel,
    SafetyCheck.round_id,
    Patient.planned_stay,
    Patient.planned_stay_place,
    Patient.planned_stay_at,
    Patient.max_hours_without_device,
    SafetyCheck.created_at,
    SafetyCheck.review_reply_id,
)


def device_label(uses_ventilator: bool, mode: str | None, uses_oxygen: bool, uses_suction: bool, child: bool) -> str:
    parts = []
    if uses_ventilator:
        parts.append("NPPV" if mode == "non_invasive" else "TPPV")
    if uses_oxygen:
        parts.append("酸素")
    if uses_suction:
        parts.append("吸引")
    if child:
        parts.append("小児")
    return "・".join(parts) or "—"


def _person(row, names: AreaNames, now: datetime) -> PersonRow:
    (
        check_id,
        patient_id,
        name,
        state,
        tier,
        hours,
        expected,
        vent,
        mode,
        oxygen,
        suction,
        child,
        muni,
        last_at,
        channel,
        round_id,
        plan,
        place,
        planned_at,
        tolerance,
        asked_at,
        review_reply_id,
    ) = row
    harm = triage.hours_to_harm(
        triage.TriageInput(
            uses_ventilator=bool(vent),
            ventilator_mode=mode,
            uses_oxygen=bool(oxygen),
            uses_suction=bool(suction),
            max_hours_without_device=tolerance,
            state=state,
            hours_left=hours,
            asked_at=aware_or_none(asked_at),
            review_pending=review_reply_id is not None,
        ),
        now,
    )
    return PersonRow(
        check_id=check_id,
        patient_id=patient_id,
        name=name,
        state=state,
        risk_tier=tier,
        hours_left=hours,
        expected_hours=expected,
        device=device_label(vent, mode, oxygen, suction, child),
        municipality=names.municipalities.get(str(muni), ""),
        last_answer_at=aware_or_none(last_at),
        last_channel=channel,
        ventilator=bool(vent),
        round_id=round_id,
        planned_stay=planned_stay_text(plan, place),
        planned_stay_at=aware_or_none(planned_at),
        harm_hours=None if harm >= triage.NO_DEVICE_HOURS else round(harm, 1),
        review_reply_id=review_reply_id,
    )


def _people(session: Session, rows, names: AreaNames, now: datetime) -> list[PersonRow]:
    """Rows as people, with the text of the reply each one waits on (one query)."""
    people = [_person(row, names, now) for row in rows]
    reply_ids = sorted({p.review_reply_id for p in people if p.review_reply_id is not None})
    if not reply_ids:
        return people
    texts = dict(
        session.exec(select(UnmatchedReply.id, UnmatchedReply.body).where(col(UnmatchedReply.id).in_(reply_ids))).all()
    )
    return [
        replace(p, review_text=texts.get(p.review_reply_id)) if p.review_reply_id is not None else p for p in people
    ]


def priority_list(session: Session, spec: ViewSpec, names: AreaNames, limit: int) -> list[PersonRow]:
    """People who need someone, in the one triage order (rounds.triage), with what it takes to act:
    those who answered needing help and those whose reply waits unread in the review queue.

    Among equal hours to harm, people on a device in a municipality with an open power outage
    (outages.service) come first.
    """
    now = utcnow()
    query = (
        select(*PERSON_COLUMNS)
        .join(Patient, Patient.id == SafetyCheck.patient_id)
        .where(*spec.conditions(), or_(col(SafetyCheck.state).in_(NEEDING), triage.review_pending_sql()))
        .order_by(*triage.triage_order(now, _outage_first(session)))
        .limit(limit)
    )
    return with_contact_details(session, _people(session, session.exec(query).all(), names, now))


def with_contact_details(session: Session, rows: list[PersonRow]) -> list[PersonRow]:
    """Phone, address, active institution, nurse station and the latest answer's note: one query each."""
    if not rows:
        return rows
    check_ids = [r.check_id for r in rows]
    station = aliased(Institution)
    active = aliased(Institution)
    details = {
        check_id: rest
        for check_id, *rest in session.exec(
            select(
                SafetyCheck.id,
                Patient.address,
                active.name,
                station.name,
                SafetyCheck.note,
                SafetyCheck.power,
                SafetyCheck.needs_transport,
                SafetyCheck.needs_admission,
                SafetyCheck.evacuated_to,
            )
            .join(Patient, Patient.id == SafetyCheck.patient_id)
            .outerjoin(active, active.id == Patient.active_institution_id)
            .outerjoin(station, station.id == Patient.visiting_nurse_station_id)
            .where(col(SafetyCheck.id).in_(check_ids))
        ).all()
    }
    phones: dict[int, str] = {}
    for patient_id, phone in session.exec(
        select(PatientContact.patient_id, PatientContact.phone)
        .where(
            col(PatientContact.patient_id).in_(sorted({r.patient_id for r in rows})), callable_phone()
        )  # one to call
        .order_by(PatientContact.patient_id, PatientContact.position, PatientContact.id)
    ).all():
        phones.setdefault(patient_id, phone)
    result = []
    for row in rows:
        address, active_name, station_name, note, power, transport, admission, evacuated_to = details[row.check_id]
        result.append(
            replace(
                row,
                phone=phones.get(row.patient_id),
                address=address,
                active_institution=active_name,
                nurse_station=station_name,
                note=note,
                power=power,
                needs_transport=bool(transport),
                needs_admission=bool(admission),
                evacuated_to=evacuated_to,
            )
        )
    return result


def non_responders(session: Session, spec: ViewSpec, names: AreaNames, limit: int) -> list[PersonRow]:
    """Not heard from (no answer, unreachable, message failed) and no reply waiting: in the one triage
    order, where the time since they were asked counts (rounds.triage). The order is computed over
    the view's silent checks (a top-N sort, not an index walk)."""
    now = utcnow()
    query = (
        select(*PERSON_COLUMNS)
        .join(Patient, Patient.id == SafetyCheck.patient_id)
        .where(*spec.conditions(), triage.silent_sql())
        .order_by(*triage.triage_order(now, _outage_first(session)))
        .limit(limit)
    )
    return _people(session, session.exec(query).all(), names, now)


def planned_stays(session: Session, spec: ViewSpec, names: AreaNames, limit: int) -> list[PersonRow]:
    """Everyone in the view with a planned stay in the registry (advance-notice answers), most at risk first:
    who will be where when the hazard comes (the notice round's list, and the next check's)."""
    query = (
        select(*PERSON_COLUMNS)
        .join(Patient, Patient.id == SafetyCheck.patient_id)
        .where(*spec.conditions(), col(Patient.planned_stay).is_not(None))
        .order_by(SafetyCheck.risk_tier, SafetyCheck.id)
        .limit(limit)
    )
    return with_contact_details(session, _people(session, session.exec(query).all(), names, utcnow()))


def _outage_first(session: Session) -> tuple:
    """The triage tie-break (rounds.triage): people on a device in an outage area first among equal hours."""
    areas = power_out_municipality_ids(session=session)
    if not areas:
        return ()
    on_device = or_(
        col(Patient.uses_ventilator).is_(True), col(Patient.uses_oxygen).is_(True), col(Patient.uses_suction).is_(True)
    )
    return (case((and_(col(SafetyCheck.municipality_id).in_(sorted(areas)), on_device), 0), else_=1),)


FEED_COLUMNS = (
    CheckAnswer.id,
    CheckAnswer.check_id,
    SafetyCheck.patient_id,
    Patient.name,
    CheckAnswer.state,
    CheckAnswer.hours_left,
    CheckAnswer.channel,
    CheckAnswer.answered_by,
    SafetyCheck.municipality_id,
    CheckAnswer.received_at,
    Patient.planned_stay,
    Patient.planned_stay_place,
)


def _feed(row, names: AreaNames) -> FeedRow:
    answer_id, check_id, patient_id, name, state, hours, channel, by, muni, received, plan, place = row
    return FeedRow(
        answer_id=answer_id,
        check_id=check_id,
        patient_id=patient_id,
        name=name,
        state=state,
        hours_left=hours,
        channel=channel,
        answered_by=by,
        municipality=names.municipalities.get(str(muni), ""),
        received_at=aware_or_none(received),
        planned_stay=planned_stay_text(plan, place),
    )


def _feed_query(spec: ViewSpec):
    return (
        select(*FEED_COLUMNS)
        .select_from(CheckAnswer)
        .join(SafetyCheck, SafetyCheck.id == CheckAnswer.check_id)
        .join(Patient, Patient.id == SafetyCheck.patient_id)
        .where(CheckAnswer.round_id == spec.round_id, *spec.conditions())
    )


def recent_answers(session: Session, spec: ViewSpec, names: AreaNames, limit: int, after_id: int = 0) -> list[FeedRow]:
    """The latest answers in the view, newest first (``after_id``: only those after a seen answer)."""
    query = _feed_query(spec).where(CheckAnswer.id > after_id).order_by(col(CheckAnswer.id).desc()).limit(limit)
    return [_feed(row, names) for row in session.exec(query).all()]


def answers_by_id(session: Session, spec: ViewSpec, names: AreaNames, answer_ids: Sequence[int]) -> list[FeedRow]:
    if not answer_ids:
        return []
    query = _feed_query(spec).where(col(CheckAnswer.id).in_(list(answer_ids))).order_by(col(CheckAnswer.id).desc())
    return [_feed(row, names) for row in session.exec(query).all()]


def answer_rate_series(session: Session, spec: ViewSpec) -> list[tuple[int, int]]:
    """(minute as epoch ms, checks answered by then), from each check's first answer: once per view."""
    first = (
        select(CheckAnswer.check_id, func.min(CheckAnswer.received_at).label("first_at"))
        .join(SafetyCheck, SafetyCheck.id == CheckAnswer.check_id)
        .where(
            CheckAnswer.round_id == spec.round_id,
            col(CheckAnswer.state).in_(sorted(ANSWERED)),
            *spec.conditions(counting=True),
        )
        .group_by(CheckAnswer.check_id)
    )
    if _needs_patient(spec):
        first = first.join(Patient, Patient.id == SafetyCheck.patient_id)
    first = first.subquery()
    if session.get_bind().dialect.name == "postgresql":
        minute = func.date_trunc("minute", first.c.first_at)
    else:
        minute = func.strftime("%Y-%m-%d %H:%M:00", first.c.first_at)
    rows = session.exec(select(minute, func.count()).select_from(first).group_by(minute).order_by(minute)).all()
    series, running = [], 0
    now_ms = int(time.time() * 1000)
    for at, n in rows:
        moment = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
        running += n
        # The count is "answered by the end of this minute": drawn there (or now, for this minute),
        # not at its start, so the curve does not run a minute ahead of the answers.
        series.append((min(int(aware(moment).timestamp() * 1000) + 60_000, now_ms), running))
    return series


def _needs_patient(spec: ViewSpec) -> bool:
    return spec.area_scope() is None or spec.filters.therapy is not None
