"""Answer links: the token in a message leads to its message, check and round."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from bcp_service.answer_tokens import hash_token
from bcp_service.answers.service import NewAnswer, record_answers
from bcp_service.clock import aware
from bcp_service.models import Institution, OutboxMessage, Patient, PatientContact, SafetyCheck, SafetyRound
from bcp_service.models.base import utcnow
from bcp_service.models.rounds import AnswerChannel, RoundState

MAX_TOKEN = 64


@dataclass(frozen=True)
class LinkTarget:
    """What an answer link leads to, read as plain columns (no ORM objects: the form's hot path)."""

    message_id: int
    channel: str
    contact_id: int | None
    check_id: int
    check_state: str
    answered: bool
    round_state: str
    expires_at: datetime
    drill: bool
    title: str | None
    kind: str = "safety_check"
    patient_id: int | None = None

    @property
    def expired(self) -> bool:
        return self.round_state != RoundState.running or aware(self.expires_at) <= utcnow()


_COLUMNS = (
    OutboxMessage.answer_token_hash,
    OutboxMessage.id,
    OutboxMessage.channel,
    OutboxMessage.contact_id,
    SafetyCheck.id,
    SafetyCheck.state,
    SafetyCheck.last_answer_at,
    SafetyRound.state,
    SafetyRound.expires_at,
    SafetyRound.drill,
    SafetyRound.title,
    SafetyRound.kind,
    SafetyCheck.patient_id,
)


def find_links(*, session: Session, tokens: list[str]) -> dict[str, LinkTarget]:
    """The links of these tokens, in one query; tokens nobody issued are left out."""
    hashes = {hash_token(t): t for t in tokens if t and len(t) <= MAX_TOKEN}
    if not hashes:
        return {}
    rows = session.execute(
        select(*_COLUMNS)
        .join(SafetyCheck, SafetyCheck.id == OutboxMessage.check_id)
        .join(SafetyRound, SafetyRound.id == SafetyCheck.round_id)
        .where(col(OutboxMessage.answer_token_hash).in_(list(hashes)))
    ).all()
    return {
        hashes[token_hash]: LinkTarget(
            message_id,
            channel,
            contact_id,
            check_id,
            check_state,
            answered_at is not None,
            round_state,
            expires_at,
            drill,
            title,
            kind,
            patient_id,
        )
        for (
            token_hash,
            message_id,
            channel,
            contact_id,
            check_id,
            check_state,
            answered_at,
            round_state,
            expires_at,
            drill,
            title,
            kind,
            patient_id,
        ) in rows
    }


def find_link(*, session: Session, token: str) -> LinkTarget | None:
    """The message, check and round an answer link belongs to; None for a token nobody issued."""
    return find_links(session=session, tokens=[token]).get(token)


def find_clinic(*, session: Session, token: str) -> tuple[str, str | None] | None:
    """(name, phone) of the clinic responsible for the link's patient (its active institution); None if unknown.

    Read only when the answer page cannot record an answer that needs help (issue 28.2): the page then
    names whom to call. An institution's number, not a person's: nothing personal is read.
    """
    if not token or len(token) > MAX_TOKEN:
        return None
    row = session.execute(
        select(Institution.name, Institution.phone)
        .join(Patient, Patient.active_institution_id == Institution.id)
        .join(SafetyCheck, SafetyCheck.patient_id == Patient.id)
        .join(OutboxMessage, OutboxMessage.check_id == SafetyCheck.id)
        .where(OutboxMessage.answer_token_hash == hash_token(token))
    ).first()
    return None if row is None else (row[0], row[1])


@dataclass(frozen=True)
class LinkAnswer:
    """A tap on the answer page, already checked for form: what the group commit records."""

    token: str
    state: str
    hours_left: float | None
    note: str | None
    nonce: str
    power: str | None = None
    hours_unknown: bool = False
    needs_transport: bool = False
    needs_admission: bool = False
    evacuated_to: str | None = None
    plan: str | None = None  # advance notice: home | shelter | relative | hospital
    place: str | None = None


@dataclass(frozen=True)
class LinkOutcome:
    kind: str  # "recorded" | "missing" (no such link) | "expired" (round closed or past its end)
    drill: bool = False


def record_link_answers(session: Session, answers: list[LinkAnswer]) -> list[LinkOutcome]:
    """Record a batch of answer-page taps in one transaction (group commit); one outcome each."""
    links = find_links(session=session, tokens=[a.token for a in answers])
    contact_ids = {link.contact_id for link in links.values() if link.contact_id}
    kinds = (
        dict(
            session.exec(
                select(PatientContact.id, PatientContact.kind).where(col(PatientContact.id).in_(sorted(contact_ids)))
            ).all()
        )
        if contact_ids
        else {}
    )
    outcomes: list[LinkOutcome] = []
    recorded: list[NewAnswer] = []
    for answer in answers:
        link = links.get(answer.token)
        if link is None:
            outcomes.append(LinkOutcome("missing"))
        elif link.expired:
            outcomes.append(LinkOutcome("expired", link.drill))
        else:
            contact_id = link.contact_id
            recorded.append(
                NewAnswer(
                    check_id=link.check_id,
                    state=answer.state,
                    channel=AnswerChannel.link,
                    hours_left=answer.hours_left,
                    note=answer.note,
                    answered_by=kinds.get(contact_id),
                    contact_id=contact_id,
                    idempotency_key=f"link:{link.message_id}:{answer.nonce}",
                    power=answer.power,
                    hours_unknown=answer.hours_unknown,
                    needs_transport=answer.needs_transport,
                    needs_admission=answer.needs_admission,
                    evacuated_to=answer.evacuated_to,
                )
            )
            outcomes.append(LinkOutcome("recorded", link.drill))
    record_answers(session=session, answers=recorded)
    _record_plans(
        session, [(links[a.token], a) for a in answers if a.plan and a.token in links and not links[a.token].expired]
    )
    return outcomes


def _record_plans(session: Session, answered: list[tuple[LinkTarget, LinkAnswer]]) -> None:
    for link, answer in answered:
        record_plan(session, link, plan=answer.plan, place=answer.place)


def record_plan(session: Session, link: LinkTarget, *, plan: str | None, place: str | None) -> None:
    """Advance-notice answers (page or keypad) say where the person will stay: the registry keeps the latest."""
    if link.kind != "advance_notice" or link.patient_id is None or not plan:
        return
    session.execute(
        update(Patient)
        .where(Patient.id == link.patient_id)
        .values(planned_stay=plan, planned_stay_place=place, planned_stay_at=utcnow())
    )
