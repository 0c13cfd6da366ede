"""The review queue of SMS replies the service could not read or place.

Scope: a reply is personal data (a phone number and free text). Admins see every reply; other
roles see replies from numbers registered for patients in their scope. Replies from numbers the
register does not know are therefore admin-only.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from bcp_service.answers.service import record_answer
from bcp_service.auth.principal import Principal, patient_scope
from bcp_service.auth.roles import Role
from bcp_service.errors import Conflict, FieldError, NotFound
from bcp_service.models import Patient, PatientContact, SafetyCheck, UnmatchedReply
from bcp_service.models.base import utcnow
from bcp_service.models.rounds import AnswerChannel
from bcp_service.rounds.checks import find_check_in_scope


def _reply_scope(principal: Principal) -> list[ColumnElement[bool]]:
    if principal.role == Role.admin:
        return []
    numbers = (
        select(PatientContact.phone)
        .join(Patient, Patient.id == PatientContact.patient_id)
        .where(*patient_scope(principal))
    )
    return [col(UnmatchedReply.from_number).in_(numbers)]


def list_unmatched(
    *,
    session: Session,
    principal: Principal,
    resolved: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[UnmatchedReply], int]:
    done = col(UnmatchedReply.resolved_at).is_not(None)
    conditions = [done if resolved else ~done, *_reply_scope(principal)]
    total = session.exec(select(func.count()).select_from(UnmatchedReply).where(*conditions)).one()
    rows = session.exec(
        select(UnmatchedReply)
        .where(*conditions)
        .order_by(UnmatchedReply.received_at, UnmatchedReply.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def patients_behind(session: Session, replies: list[UnmatchedReply]) -> list[int]:
    numbers = sorted({r.from_number for r in replies})
    if not numbers:
        return []
    return list(
        session.exec(select(PatientContact.patient_id).where(col(PatientContact.phone).in_(numbers)).distinct()).all()
    )


def _unmark(session: Session, reply: UnmatchedReply) -> None:
    """The reply has been read: its checks are no longer 「返信あり・要確認」, unless another unread
    reply from the same number waits (the newest then takes its place)."""
    marked = session.exec(select(SafetyCheck).where(SafetyCheck.review_reply_id == reply.id)).all()
    if not marked:
        return
    other = session.exec(
        select(UnmatchedReply.id)
        .where(
            UnmatchedReply.from_number == reply.from_number,
            UnmatchedReply.id != reply.id,
            col(UnmatchedReply.resolved_at).is_(None),
        )
        .order_by(col(UnmatchedReply.id).desc())
    ).first()
    for check in marked:
        check.review_reply_id = other
        session.add(check)


def resolve_reply(
    *,
    session: Session,
    principal: Principal,
    reply_id: int,
    check_id: int | None,
    state: str | None,
    hours_left: float | None,
    note: str | None,
) -> UnmatchedReply:
    """Record the reply as an answer to a check the reviewer chose, or dismiss it (no check)."""
    reply = session.exec(
        select(UnmatchedReply).where(UnmatchedReply.id == reply_id, *_reply_scope(principal)).with_for_update()
    ).first()
    if reply is None:
        raise NotFound("返信が見つかりません (reply not found)")
    if reply.resolved_at is not None:
        raise Conflict("この返信は処理済みです (reply already resolved)")
    if check_id is not None:
        if state is None:
            raise FieldError("回答の状態を選んでください (state is required with check_id)", field="state")
        check = find_check_in_scope(session=session, check_id=check_id, scope=patient_scope(principal))
        text = reply.body if not note else f"{reply.body}\n[確認者] {note}"
        record_answer(
            session=session,
            check_id=check.id,
            state=state,
            channel=AnswerChannel.sms,
            observed_at=reply.received_at,
            hours_left=hours_left,
            note=text[:1000],
            answered_by="reviewer",
            user_id=principal.user_id,
            idempotency_key=f"sms:{reply.provider_message_id}",
        )
        reply.resolution, reply.resolved_check_id = "answered", check.id
    else:
        reply.resolution = "dismissed"
    reply.resolved_at = utcnow()
    _unmark(session, reply)
    reply.resolved_by_user_id = principal.user_id
    reply.resolved_by_name = principal.username[:100]
    reply.resolution_note = note
    session.add(reply)
    session.flush()
    return reply
