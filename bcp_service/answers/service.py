"""Recording an answer: one history per check, the check showing the latest by observed time."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from bcp_service.errors import FieldError, NotFound
from bcp_service.models import CheckAnswer, OutboxMessage, SafetyCheck, SafetyRound
from bcp_service.models.base import utcnow
from bcp_service.models.rounds import ANSWER_STATES, CheckState, RoundState
from bcp_service.rounds.clock import aware
from bcp_service.rounds.counters import CheckKeys, move_counters
from bcp_service.rounds.messages import hash_token

log = logging.getLogger("bcp_service.answers")
RECORDABLE = frozenset({*ANSWER_STATES, CheckState.unreachable})


def lock_check(session: Session, check_id: int) -> SafetyCheck:
    # The row lock serialises answers to one check, so its counters move exactly once per change.
    check = session.exec(
        select(SafetyCheck).where(SafetyCheck.id == check_id).with_for_update()
    ).first()
    if check is None:
        raise NotFound("安否確認の対象が見つかりません (check not found)")
    return check


def record_answer(
    *, session: Session, check_id: int, state: str, channel: str, observed_at: datetime | None = None,
    hours_left: float | None = None, note: str | None = None, answered_by: str | None = None,
    user_id: int | None = None, contact_id: int | None = None, idempotency_key: str | None = None,
) -> tuple[CheckAnswer, bool]:
    """Add an answer to the check's history; returns (answer, created).

    A repeated idempotency key (the provider's message id, the form's nonce) returns the first
    answer and changes nothing. An answer observed before the latest one is kept in the history
    but does not change the check's state.
    """
    if state not in RECORDABLE:
        raise FieldError(f"回答として記録できない状態です (not an answer state): {state}", field="state")
    if idempotency_key:
        existing = _by_key(session, idempotency_key)
        if existing is not None:
            return existing, False
    check = lock_check(session, check_id)
    if idempotency_key:
        # Checked again under the lock: a concurrent duplicate waited for us and must now see our row.
        existing = _by_key(session, idempotency_key)
        if existing is not None:
            return existing, False
    now = utcnow()
    observed_at = aware(observed_at) if observed_at else now
    answer = CheckAnswer(
        check_id=check.id, round_id=check.round_id, state=str(state), hours_left=hours_left, note=note,
        channel=str(channel), answered_by=answered_by, user_id=user_id, contact_id=contact_id,
        observed_at=observed_at, received_at=now, idempotency_key=idempotency_key,
    )
    session.add(answer)
    if check.last_answer_at is None or observed_at >= aware(check.last_answer_at):
        old_state = check.state
        check.state = str(state)
        check.hours_left = hours_left
        check.last_answer_at = observed_at
        check.last_channel = str(channel)
        session.add(check)
        move_counters(session=session, moves=[(CheckKeys.of(check), old_state, check.state)])
    session.flush()
    log.info("answer.recorded", extra={"check_id": check.id, "round_id": check.round_id, "answer_id": answer.id,
                                       "channel": str(channel), "state": str(state)})
    return answer, True


def _by_key(session: Session, key: str) -> CheckAnswer | None:
    return session.exec(select(CheckAnswer).where(CheckAnswer.idempotency_key == key)).first()


@dataclass(frozen=True)
class LinkTarget:
    message: OutboxMessage
    check: SafetyCheck
    safety_round: SafetyRound

    @property
    def expired(self) -> bool:
        return self.safety_round.state != RoundState.running or aware(self.safety_round.expires_at) <= utcnow()


def find_link(*, session: Session, token: str) -> LinkTarget | None:
    """The message, check and round an answer link belongs to; None for a token nobody issued."""
    if not token or len(token) > 64:
        return None
    row = session.exec(
        select(OutboxMessage, SafetyCheck, SafetyRound)
        .join(SafetyCheck, SafetyCheck.id == OutboxMessage.check_id)
        .join(SafetyRound, SafetyRound.id == SafetyCheck.round_id)
        .where(OutboxMessage.answer_token_hash == hash_token(token))
    ).first()
    return LinkTarget(*row) if row else None
