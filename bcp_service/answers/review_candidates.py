"""Whom an unread SMS reply may be from: open checks of patients with that phone number, in scope.

The review page shows these next to the reply so a person can place it in two taps. The check the
parser already guessed (``candidate_check_id``) is included even when the number has changed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_
from sqlmodel import Session, col, select

from bcp_service.models import Patient, PatientContact, SafetyCheck, SafetyRound, UnmatchedReply
from bcp_service.models.rounds import RoundState

MAX_PER_REPLY = 10


@dataclass(frozen=True)
class Candidate:
    check_id: int
    round_id: int
    round_title: str | None
    drill: bool
    patient_id: int
    patient_name: str
    name_kana: str | None
    risk_tier: str
    state: str
    contact_kind: str | None  # whose phone it is: self, family, carer (None: the parser's guess)
    suggested: bool


def candidates_for(
    *, session: Session, replies: list[UnmatchedReply], scope: list[ColumnElement[bool]]
) -> dict[int, list[Candidate]]:
    numbers = {r.from_number for r in replies}
    guessed = {r.candidate_check_id for r in replies if r.candidate_check_id}
    if not numbers and not guessed:
        return {}
    rows = session.exec(
        select(
            SafetyCheck,
            SafetyRound.title,
            SafetyRound.drill,
            Patient.name,
            Patient.name_kana,
            PatientContact.phone,
            PatientContact.kind,
        )
        .join(SafetyRound, SafetyRound.id == SafetyCheck.round_id)
        .join(Patient, Patient.id == SafetyCheck.patient_id)
        .outerjoin(
            PatientContact, (PatientContact.patient_id == Patient.id) & col(PatientContact.phone).in_(numbers or {""})
        )
        .where(
            SafetyRound.state == RoundState.running,
            or_(col(PatientContact.id).is_not(None), col(SafetyCheck.id).in_(guessed or {-1})),
            *scope,
        )
        .order_by(SafetyCheck.risk_tier, SafetyCheck.id)
    ).all()
    found: dict[int, list[Candidate]] = defaultdict(list)
    for reply in replies:
        seen: set[int] = set()
        for check, title, drill, name, kana, phone, kind in rows:
            if check.id in seen or not (phone == reply.from_number or check.id == reply.candidate_check_id):
                continue
            if len(found[reply.id]) >= MAX_PER_REPLY:
                break
            seen.add(check.id)
            found[reply.id].append(
                Candidate(
                    check_id=check.id,
                    round_id=check.round_id,
                    round_title=title,
                    drill=drill,
                    patient_id=check.patient_id,
                    patient_name=name,
                    name_kana=kana,
                    risk_tier=check.risk_tier,
                    state=check.state,
                    contact_kind=kind if phone == reply.from_number else None,
                    suggested=check.id == reply.candidate_check_id,
                )
            )
        found[reply.id].sort(key=lambda c: not c.suggested)
    return found
