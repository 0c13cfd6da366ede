"""SMS replies: read them, find the sender's open check, record the answer or queue the reply.

Nothing is dropped: a reply the parser cannot read with confidence, or whose sender matches no
open check, or checks of several patients, goes to the review queue (``unmatched_reply``) for a
person. A patient asked in several running rounds gets the answer recorded in each of them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import Session, col, select

from bcp_service.answers.service import NewAnswer, record_answers
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
    hours_unknown: bool = False


@dataclass(frozen=True)
class InboundSms:
    provider_id: str
    from_number: str
    to_number: str | None
    body: str


Candidate = tuple[int, int | None, bool, int]  # (check id, contact id, drill, patient id)


def open_checks_for(session: Session, phones: set[str]) -> dict[str, list[Candidate]]:
    """For each number, the checks of running rounds it belongs to (three queries for the batch).

    The number leads to contacts, their patients and those patients' checks in running rounds.
    Checks that a message was actually sent to from this number come first: they name the check
    exactly (a family member's phone registered for two patients, say, but texted about one).
    """
    contacts = session.exec(
        select(PatientContact.id, PatientContact.patient_id, PatientContact.phone).where(
            col(PatientContact.phone).in_(sorted(phones))
        )
    ).all()
    if not contacts:
        return {}
    checks = session.exec(
        select(SafetyCheck.id, SafetyCheck.patient_id, SafetyRound.drill)
        .join(SafetyRound, SafetyRound.id == SafetyCheck.round_id)
        .where(
            col(SafetyCheck.patient_id).in_(sorted({p for _, p, _ in contacts})),
            SafetyRound.state == RoundState.running,
        )
    ).all()
    if not checks:
        return {}
    sent = session.exec(
        select(OutboxMessage.check_id, OutboxMessage.contact_id, OutboxMessage.to_number).where(
            col(OutboxMessage.check_id).in_(sorted({c for c, _, _ in checks})),
            col(OutboxMessage.to_number).in_(sorted(phones)),
        )
    ).all()
    checks_of: dict[int, list[tuple[int, bool]]] = {}
    for check_id, patient_id, drill in checks:
        checks_of.setdefault(patient_id, []).append((check_id, drill))
    drill_of = {check_id: drill for check_id, _, drill in checks}
    patient_of = {check_id: patient_id for check_id, patient_id, _ in checks}
    found: dict[str, list[Candidate]] = {}
    for phone in phones:
        texted: dict[int, Candidate] = {}
        for check_id, contact_id, to_number in sent:
            if to_number == phone:
                texted.setdefault(check_id, (check_id, contact_id, drill_of[check_id], patient_of[check_id]))
        if texted:
            found[phone] = list(texted.values())
            continue
        mine = [(contact_id, patient_id) for contact_id, patient_id, number in contacts if number == phone]
        found[phone] = [
            (check_id, contact_id, drill, patient_id)
            for contact_id, patient_id in mine
            for check_id, drill in checks_of.get(patient_id, [])
        ]

    return found


def handle_replies(session: Session, replies: list[InboundSms]) -> list[InboundResult]:
    """SMS replies, in the order they arrived, in one transaction (a group commit's batch)."""
    ids = {r.provider_id for r in replies}
    seen = set(
        session.exec(
            select(CheckAnswer.idempotency_key).where(
                col(CheckAnswer.idempotency_key).in_(sorted(f"sms:{i}" for i in ids))
            )
        ).all()
    )
    seen |= {
        f"sms:{i}"
        for i in session.exec(
            select(UnmatchedReply.provider_message_id).where(col(UnmatchedReply.provider_message_id).in_(sorted(ids)))
        ).all()
    }
    candidates = open_checks_for(session, {r.from_number for r in replies})
    contact_ids = {c[1] for found in candidates.values() for c in found if c[1]}
    kinds = (
        dict(
            session.exec(
                select(PatientContact.id, PatientContact.kind).where(col(PatientContact.id).in_(sorted(contact_ids)))
            ).all()
        )
        if contact_ids
        else {}
    )
    results: list[InboundResult] = []
    answers: list[NewAnswer] = []
    for reply in replies:
        key = f"sms:{reply.provider_id}"
        if key in seen:
            results.append(InboundResult("duplicate"))
            continue
        seen.add(key)
        result, recorded = _read_reply(session, reply, candidates.get(reply.from_number, []), kinds)
        results.append(result)
        answers.extend(recorded)
    record_answers(session=session, answers=answers)
    return results


def mark_for_review(session: Session, reply: UnmatchedReply, check_ids: list[int]) -> None:
    """A reply waiting for a person is loud: each open check it may belong to shows 「返信あり・要確認」
    and ranks as needing help (rounds.triage) until the reply is resolved (answers.review). A number
    shared by several patients marks each of them: better one check too many than a silent one."""
    if not check_ids:
        return
    session.flush()  # the reply's id
    session.execute(
        update(SafetyCheck).where(col(SafetyCheck.id).in_(sorted(set(check_ids)))).values(review_reply_id=reply.id)
    )


def _read_reply(
    session: Session, reply: InboundSms, candidates: list[Candidate], kinds: dict[int, str]
) -> tuple[InboundResult, list[NewAnswer]]:
    parsed = parse_reply(reply.body)
    drill = all(c[2] for c in candidates) if candidates else False
    reason = None
    if len(candidates) == 0:
        reason = "no_open_check"
    elif len({c[3] for c in candidates}) > 1:
        reason = "several_open_checks"  # a number shared by several patients: which one answered?
    elif parsed.state is None or parsed.ambiguous:
        reason = f"ambiguous:{parsed.reason}" if parsed.ambiguous else parsed.reason
    if reason is not None:
        queued = UnmatchedReply(
            from_number=reply.from_number[:20],
            to_number=(reply.to_number or "")[:20] or None,
            body=reply.body[:2000],
            received_at=utcnow(),
            provider_message_id=reply.provider_id,
            reason=reason[:60],
            parsed_state=parsed.state,
            parsed_hours=parsed.hours,
            candidate_check_id=candidates[0][0] if len(candidates) == 1 else None,
        )
        session.add(queued)
        mark_for_review(session, queued, [c[0] for c in candidates])
        log.info("reply.queued", extra={"provider_id": reply.provider_id, "reason": reason})
        return InboundResult("queued", drill=drill, reason=reason), []
    answers = []
    # One patient, asked in one or more running rounds: the answer counts in each of them. The first
    # keeps the plain key, so the duplicate check above (``sms:<sid>``) still sees a repeated delivery.
    per_check = {c[0]: c for c in sorted(candidates, key=lambda c: (c[0], c[1] or 0), reverse=True)}
    for index, (check_id, contact_id, _drill, _patient) in enumerate(per_check[k] for k in sorted(per_check)):
        key = f"sms:{reply.provider_id}" if index == 0 else f"sms:{reply.provider_id}#{check_id}"
        answers.append(
            NewAnswer(
                check_id=check_id,
                state=parsed.state,
                channel=AnswerChannel.sms,
                hours_left=parsed.hours,
                note=reply.body[:1000],
                answered_by=kinds.get(contact_id),
                contact_id=contact_id,
                idempotency_key=key,
                power=parsed.power,
                hours_unknown=parsed.hours_unknown,
                needs_transport=parsed.needs_transport,
                needs_admission=parsed.needs_admission,
                evacuated_to=parsed.evacuated_to,
            )
        )
    return InboundResult("answered", parsed.state, parsed.hours, drill, hours_unknown=parsed.hours_unknown), answers
