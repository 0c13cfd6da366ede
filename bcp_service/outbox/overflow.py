"""Twilio 30001 (queue overflow): the message expired in the sender's queue before it left.

Nothing is wrong with the number or the channel: the provider had more traffic than it could drain
in time (domain.md: "30001 on overflow: slow down and retry, do not fail"). So the message is not a
failure of the check. The status is stored as it came (``failed``/``undelivered``, code 30001);
``delivery.handle_failures`` leaves such a message alone and the sender, which owns the retry
policy and the validity (``send_validity_seconds``), decides here, from its maintenance loop:

- while the message still matters (its validity, counted from when the *first* copy was queued, and
  the round's deadline), a fresh copy is queued to the same contact and channel after the retry
  policy's backoff (capped, jittered): the later copies of a check wait longer, which is the
  slowing down, and a copy that cannot leave before the message expires is not queued;
- after that, the check is handed over as any failed message is (``contacts.choose``: the same
  number's other channel, else the next contact), or flagged ``delivery_failed`` when nothing is
  left.

A check answered or a round closed meanwhile needs nothing. Safe with several workers: each
overflowed message is taken with ``SKIP LOCKED`` and is done once a later message of its check
exists or the check left ``no_answer``.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from bcp_service import outbox_writer
from bcp_service.clock import aware
from bcp_service.locking import take_write_lock
from bcp_service.models import OutboxMessage, SafetyCheck, SafetyRound
from bcp_service.models.base import utcnow
from bcp_service.models.outbox import MessageState
from bcp_service.models.rounds import CheckState, RoundState
from bcp_service.outbox import delivery
from bcp_service.outbox.retry import RetryPolicy
from bcp_service.rounds import counters
from bcp_service.rounds.messages import first_template
from notifiers.twilio_codes import QUEUE_OVERFLOW_CODES

log = logging.getLogger("bcp_service.outbox")


def overflowed(session: Session, *, limit: int) -> list[OutboxMessage]:
    """Messages that expired in the provider's queue and whose check still waits for them."""
    later = aliased(OutboxMessage)
    query = (
        select(OutboxMessage)
        .join(SafetyCheck, SafetyCheck.id == OutboxMessage.check_id)
        .join(SafetyRound, SafetyRound.id == SafetyCheck.round_id)
        .where(
            col(OutboxMessage.last_error_code).in_(sorted(QUEUE_OVERFLOW_CODES)),
            col(OutboxMessage.state).in_([MessageState.failed.value, MessageState.undelivered.value]),
            SafetyRound.state == RoundState.running.value,
            SafetyCheck.state == CheckState.no_answer.value,
            col(SafetyCheck.last_answer_at).is_(None),
            ~select(later.id).where(later.check_id == OutboxMessage.check_id, later.id > OutboxMessage.id).exists(),
        )
        .order_by(OutboxMessage.priority, OutboxMessage.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=OutboxMessage, skip_locked=True)
    return list(session.scalars(query))


def _expires_at(message: OutboxMessage, safety_round: SafetyRound, validity: timedelta) -> datetime:
    ends = aware(message.created_at) + validity
    return min(ends, aware(safety_round.deadline)) if safety_round.deadline is not None else ends


def _overflows_so_far(session: Session, message: OutboxMessage) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                and_(
                    OutboxMessage.check_id == message.check_id,
                    OutboxMessage.contact_id == message.contact_id,
                    OutboxMessage.channel == message.channel,
                    col(OutboxMessage.last_error_code).in_(sorted(QUEUE_OVERFLOW_CODES)),
                )
            )
        )
        or 1
    )


def _queue_copy(
    session: Session, message: OutboxMessage, check: SafetyCheck, safety_round: SafetyRound, *, at: datetime
) -> None:
    # The same text as the copy that expired (a notice round's own); the validity runs from the first copy.
    template = message.template or first_template(safety_round.kind)
    outbox_writer.queue(
        session=session,
        round_id=message.round_id,
        messages=[
            outbox_writer.Queued(
                message.check_id, check.risk_tier, message.contact_id, message.channel, message.to_number
            )
        ],
        template=template,
        drill=message.drill,
        now=at,
        created_at=aware(message.created_at),
    )


def requeue_overflows(
    session_factory: Callable[[], Session],
    *,
    validity: timedelta,
    policy: RetryPolicy,
    rng: random.Random | None = None,
    limit: int = 200,
) -> Counter[str]:
    """One pass (the worker's maintenance loop): retry, hand over or flag each overflowed message."""
    stats: Counter[str] = Counter()
    with session_factory() as session:
        take_write_lock(session)
        with counters.deferred(session):
            now = utcnow()
            for message in overflowed(session, limit=limit):
                check = session.get(SafetyCheck, message.check_id)
                safety_round = session.get(SafetyRound, message.round_id)  # joined by overflowed(): it exists
                delay = policy.backoff(_overflows_so_far(session, message), rng=rng)
                if now + timedelta(seconds=delay) < _expires_at(message, safety_round, validity):
                    _queue_copy(session, message, check, safety_round, at=now + timedelta(seconds=delay))
                    stats["retried"] += 1
                    log.info("outbox.overflow_retried", extra={"message_id": message.id, "delay": round(delay, 1)})
                else:
                    stats[delivery.hand_over(session, message, now=now)] += 1
            session.flush()
        session.commit()
    return stats
