"""My patients in the running rounds, most urgent first, and recording a nurse's result.

The result goes through ``answers.service.record_answer`` (the one the answer page and SMS use):
channel ``nurse``, ``answered_by`` ``nurse_visit`` / ``nurse_phone``, and the idempotency key
``nurse:<client id>`` made on the phone, so a result sent again after a lost reply counts once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import phonenumbers
from sqlalchemy import func
from sqlmodel import Session, col, select

from bcp_service.answers.service import RecordedAnswer, record_answer
from bcp_service.auth.principal import Principal, patient_scope
from bcp_service.board.lists import EXPECTED_HOURS, device_label
from bcp_service.clock import aware
from bcp_service.contacts import address_rows
from bcp_service.errors import Conflict, NotFound
from bcp_service.labels import planned_stay_text
from bcp_service.models import CheckAnswer, Patient, PatientContact, SafetyCheck, SafetyRound, UnmatchedReply
from bcp_service.models.base import utcnow
from bcp_service.models.rounds import AnswerChannel, RoundState
from bcp_service.nurse.schemas import Contact, NurseResultIn, NurseRow
from bcp_service.rounds import incidents, triage


def list_my_checks(*, session: Session, principal: Principal, limit: int = 300) -> tuple[list[NurseRow], int]:
    """Checks of running rounds for the patients in the nurse's scope (station and assignments)."""
    # One row per person and incident: a check following another round's conversation is shown with it.
    conditions = [
        SafetyRound.state == RoundState.running.value,
        col(SafetyCheck.follows_check_id).is_(None),
        *patient_scope(principal),
    ]
    base = (
        select(
            SafetyCheck,
            SafetyRound.title,
            SafetyRound.drill,
            Patient,
            EXPECTED_HOURS.label("expected"),
            SafetyRound.incident_id,
        )
        .join(SafetyRound, SafetyRound.id == SafetyCheck.round_id)
        .join(Patient, Patient.id == SafetyCheck.patient_id)
        .where(*conditions)
    )
    total = session.exec(
        select(func.count())
        .select_from(SafetyCheck)
        .join(SafetyRound, SafetyRound.id == SafetyCheck.round_id)
        .join(Patient, Patient.id == SafetyCheck.patient_id)
        .where(*conditions)
    ).one()
    now = utcnow()
    rows = session.exec(base.order_by(*triage.triage_order(now)).limit(limit)).all()
    contacts = contacts_of(session, [patient.id for _, _, _, patient, _, _ in rows])
    rounds = incidents.rounds_of_people(session, [check.id for check, *_ in rows if check.id is not None])
    reply_ids = sorted({check.review_reply_id for check, *_ in rows if check.review_reply_id is not None})
    texts = (
        dict(
            session.exec(
                select(UnmatchedReply.id, UnmatchedReply.body).where(col(UnmatchedReply.id).in_(reply_ids))
            ).all()
        )
        if reply_ids
        else {}
    )
    result = [
        NurseRow(
            check_id=check.id,
            round_id=check.round_id,
            round_title=title or f"安否確認 #{check.round_id}",
            drill=drill,
            patient_id=patient.id,
            name=patient.name,
            name_kana=patient.name_kana,
            address=patient.address,
            device=device_label(
                patient.uses_ventilator,
                patient.ventilator_mode,
                patient.uses_oxygen,
                patient.uses_suction,
                patient.medically_dependent_child,
            ),
            risk_tier=check.risk_tier,
            state=check.state,
            hours_left=check.hours_left,
            expected_hours=expected,
            last_answer_at=aware(check.last_answer_at) if check.last_answer_at else None,
            last_channel=check.last_channel,
            contacts=tuple(contacts.get(patient.id, ())),
            power=check.power,
            hours_unknown=bool(check.hours_unknown),
            needs_transport=bool(check.needs_transport),
            needs_admission=bool(check.needs_admission),
            evacuated_to=check.evacuated_to,
            note=check.note,
            planned_stay=planned_stay_text(patient.planned_stay, patient.planned_stay_place),
            planned_stay_at=aware(patient.planned_stay_at) if patient.planned_stay_at else None,
            incident_id=incident_id,
            rounds=tuple(
                (rid, rtitle or f"安否確認 #{rid}", rdrill) for rid, rtitle, rdrill in rounds.get(check.id, ())
            ),
            harm_hours=_harm_hours(check, patient, now),
            review_reply_id=check.review_reply_id,
            review_text=texts.get(check.review_reply_id) if check.review_reply_id is not None else None,
        )
        for check, title, drill, patient, expected, incident_id in rows
    ]
    return result, total


def _harm_hours(check: SafetyCheck, patient: Patient, now) -> float | None:
    harm = triage.hours_to_harm(
        triage.from_patient(
            patient,
            state=check.state,
            hours_left=check.hours_left,
            asked_at=aware(check.created_at),
            review_pending=check.review_reply_id is not None,
        ),
        now,
    )
    return None if harm >= triage.NO_DEVICE_HOURS else round(harm, 1)


def contacts_of(session: Session, patient_ids: list[int]) -> dict[int, list[Contact]]:
    found: dict[int, list[Contact]] = defaultdict(list)
    if not patient_ids:
        return found
    # The nurse calls: a contact reached only by e-mail has no number to show here.
    rows = session.exec(
        select(PatientContact)
        .where(col(PatientContact.patient_id).in_(patient_ids), col(PatientContact.phone).is_not(None))
        .order_by(PatientContact.patient_id, PatientContact.position, PatientContact.id)
    ).all()
    refused = address_rows(session=session, patient_ids=patient_ids)
    for c in rows:
        found[c.patient_id].append(
            Contact(
                kind=c.kind,
                name=c.name,
                relation=c.relation,
                phone=c.phone,
                display=national(c.phone),
                warning=call_warning(c, refused.get(c.id, (frozenset(), ()))[0]),
            )
        )
    return found


def call_warning(contact: PatientContact, refused: frozenset[str] = frozenset()) -> str | None:
    """Only what matters for a call: a number refused for SMS alone (a landline) is fine to call."""
    if contact.bad_since is not None:
        return "届かない番号"
    if "voice" in refused:
        return "通話できない番号"
    return None


def national(phone: str) -> str:
    """090-1234-5678 rather than +819012345678: what a nurse reads and a family recognises."""
    try:
        parsed = phonenumbers.parse(phone, "JP")
    except phonenumbers.NumberParseException:
        return phone
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


ROUND_CLOSED = (
    "この安否確認はすでに終了しているため、結果を記録できません。"
    "急ぎの内容は担当の連携拠点に電話で伝えてください (the round is closed)"
)


def record_result(*, session: Session, principal: Principal, data: NurseResultIn) -> tuple[RecordedAnswer, bool]:
    key = f"nurse:{principal.scope_id}:{data.client_id}"  # per station: another station's id is not an oracle
    existing = session.exec(select(CheckAnswer).where(CheckAnswer.idempotency_key == key)).first()
    if existing is not None:
        if existing.check_id != data.check_id:
            raise Conflict(
                "この記録 ID は別の患者で使われています (client_id used for another check)", field="client_id"
            )
        return RecordedAnswer(existing.id, existing.check_id, existing.round_id, existing.state), False
    check = session.exec(
        select(SafetyCheck)
        .join(Patient, Patient.id == SafetyCheck.patient_id)
        .where(SafetyCheck.id == data.check_id, *patient_scope(principal))
    ).first()
    if check is None:
        raise NotFound("担当の安否確認が見つかりません (check not found)")
    safety_round = session.get(SafetyRound, check.round_id)
    now = utcnow()
    observed = aware(data.observed_at) if data.observed_at else now
    # A phone's clock may run ahead: never after now, never before the round began.
    observed = max(min(observed, now), aware(safety_round.started_at))
    if safety_round.state != RoundState.running:
        # Refused whatever observed_at says (issue 23): a phone's time can be set back at will, so a
        # backdated result would reopen a closed round. What a nurse still knows goes to the hub by phone.
        raise Conflict(ROUND_CLOSED)
    if check.review_reply_id is not None:
        # The nurse page showed the waiting reply's text: a result recorded here means it was read.
        check.review_reply_id = None
        session.add(check)
    return record_answer(
        session=session,
        check_id=check.id,
        state=data.state,
        channel=AnswerChannel.nurse,
        observed_at=observed,
        hours_left=data.hours_left,
        note=data.note or None,
        answered_by=f"nurse_{data.method}",
        hours_unknown=data.hours_unknown,
        power=data.power,
        needs_transport=data.needs_transport,
        needs_admission=data.needs_admission,
        evacuated_to=data.evacuated_to,
        user_id=principal.user_id,
        idempotency_key=key,
    )


@dataclass(frozen=True)
class NurseGroup:
    """The rows of one incident (or of one round outside any), in the list's order."""

    key: str
    drill: bool
    heading: str
    rows: list[NurseRow]


def group_rows(rows: list[NurseRow]) -> list[NurseGroup]:
    """Group by incident, else by round, keeping the triage order inside each group and between
    groups (a group sits where its most urgent person is). Real and drill rounds never share one."""
    members: dict[str, list[NurseRow]] = {}
    titles: dict[str, dict[str, None]] = {}
    for row in rows:
        key = f"i{row.incident_id}" if row.incident_id is not None else f"r{row.round_id}"
        members.setdefault(key, []).append(row)
        for title in [title for _, title, _ in row.rounds] or [row.round_title]:
            titles.setdefault(key, {})[title] = None
    return [NurseGroup(key, group[0].drill, "・".join(titles[key]), group) for key, group in members.items()]
