"""SMS replies: read them, find the sender's open check, record the answer or queue the reply.

Nothing is dropped: a reply the parser cannot read with confidence, or whose sender matches no
open check or several, goes to the review queue (``unmatched_reply``) for a person.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlmodel import Session, col, select

from bcp_service.answers.service import record_answer
from bcp_service.models import CheckAnswer, OutboxMessage, PatientContact, SafetyCheck, SafetyRound, UnmatchedReply
from bcp_service.models.base import utcnow
from bcp_service.models.rounds import AnswerChannel, RoundState
from bcp_service.rounds.replies import parse_reply

log = logging.getLogger("bcp_service.webhooks")


@dataclass(frozen=True)
class InboundResult:
    kind: str  # "answered" | "queued" | "duplicate"
    state: str | None = None
    hours: float | None = None
    drill: bool = False
    reason: str | None = None


def open_checks_for(session: Session, phone: str) -> list[tuple[int, int | None, bool]]:
    """(check id, contact id, drill) of running rounds this number belongs to.

    The number leads to contacts, their patients and those patients' checks in running rounds.
    Checks that a message was actually sent to from this number come first: they name the check
    exactly (a family member's phone registered for two patients, say, but texted about one).
    """
    contacts = dict(session.exec(
        select(PatientContact.id, PatientContact.patient_id).where(PatientContact.phone == phone)
    ).all())
    if not contacts:
        return []
    checks = session.exec(
        select(SafetyCheck.id, SafetyCheck.patient_id, SafetyRound.drill)
        .join(SafetyRound, SafetyRound.id == SafetyCheck.round_id)
        .where(col(SafetyCheck.patient_id).in_(set(contacts.values())), SafetyRound.state == RoundState.running)
    ).all()
    if not checks:
        return []
    drill_of = {check_id: drill for check_id, _, drill in checks}
    sent = session.exec(
        select(OutboxMessage.check_id, OutboxMessage.contact_id)
        .where(col(OutboxMessage.check_id).in_(list(drill_of)), OutboxMessage.to_number == phone)
    ).all()
    if sent:
        found: dict[int, tuple[int, int | None, bool]] = {}
        for check_id, contact_id in sent:
            found.setdefault(check_id, (check_id, contact_id, drill_of[check_id]))
        return list(found.values())
    contact_of = {patient_id: contact_id for contact_id, patient_id in contacts.items()}
    return [(check_id, contact_of.get(patient_id), drill) for check_id, patient_id, drill in checks]


def handle_inbound(*, session: Session, provider_id: str, from_number: str, to_number: str | None, body: str) -> InboundResult:
    key = f"sms:{provider_id}"
    if session.exec(select(CheckAnswer.id).where(CheckAnswer.idempotency_key == key)).first() is not None:
        return InboundResult("duplicate")
    if session.exec(select(UnmatchedReply.id).where(UnmatchedReply.provider_message_id == provider_id)).first() is not None:
        return InboundResult("duplicate")
    parsed = parse_reply(body)
    candidates = open_checks_for(session, from_number)
    drill = all(c[2] for c in candidates) if candidates else False
    reason = None
    if len(candidates) == 0:
        reason = "no_open_check"
    elif len(candidates) > 1:
        reason = "several_open_checks"
    elif parsed.state is None or parsed.ambiguous:
        reason = f"ambiguous:{parsed.reason}" if parsed.ambiguous else parsed.reason
    if reason is not None:
        session.add(UnmatchedReply(
            from_number=from_number[:20], to_number=(to_number or "")[:20] or None, body=body[:2000],
            received_at=utcnow(), provider_message_id=provider_id, reason=reason[:60], parsed_state=parsed.state,
            parsed_hours=parsed.hours, candidate_check_id=candidates[0][0] if len(candidates) == 1 else None,
        ))
        session.flush()
        log.info("reply.queued", extra={"provider_id": provider_id, "reason": reason})
        return InboundResult("queued", drill=drill, reason=reason)
    check_id, contact_id, drill = candidates[0]
    contact = session.get(PatientContact, contact_id) if contact_id else None
    hours = parsed.hours if parsed.state == "power_out" else None
    record_answer(
        session=session, check_id=check_id, state=parsed.state, channel=AnswerChannel.sms, hours_left=hours,
        note=body[:1000], answered_by=contact.kind if contact else None, contact_id=contact_id,
        idempotency_key=key,
    )
    return InboundResult("answered", parsed.state, hours, drill)
