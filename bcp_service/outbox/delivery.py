"""What a delivery status means for the message, the contact and the check.

Statuses only move up (``STATE_RANK``): callbacks arrive out of order and a late ``sent`` must
not overwrite ``delivered``. A failed message hands over (``contacts.choose``,
"failover") to the same number's other channel or the next contact when the number or the
channel was bad; when nothing is left to try and nobody has answered, the check
becomes ``delivery_failed`` so a person sees it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, case, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from bcp_service import contacts as reach
from bcp_service import outbox_writer
from bcp_service.models import EarlyStatus, OutboxMessage, PatientContact, SafetyCheck, SafetyRound
from bcp_service.models.base import utcnow
from bcp_service.models.outbox import STATE_RANK, MessageState
from bcp_service.models.rounds import CheckState, RoundState
from bcp_service.rounds import quiet
from bcp_service.rounds.counters import CheckKeys, move_counters
from bcp_service.rounds.messages import first_template, template_for
from notifiers.twilio_codes import MESSAGE_STATES, RETRY_LATER, fact_of, is_bad_address

log = logging.getLogger("bcp_service.outbox")

# Provider statuses we act on, mapped to ours by the provider's module (notifiers/twilio_codes.py).
PROVIDER_STATES = {word: MessageState(state) for word, state in MESSAGE_STATES.items()}
# A failure whose fact is ``retry_later`` (the message expired in the provider's queue, an overflow) is
# not the number's fault nor a failure of the check: the sender retries it while it matters
# (outbox/overflow.py).
LIVE_STATES = (MessageState.queued, MessageState.sending, MessageState.sent, MessageState.delivered)
_table = OutboxMessage.__table__
_STATUS_UPDATE = (
    update(_table)
    .where(_table.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        status_at=bindparam("b_now"),
        last_error_code=func.coalesce(bindparam("b_code"), _table.c.last_error_code),
    )
)


def _rank_expression(column):
    return case(*((column == state.value, rank) for state, rank in STATE_RANK.items()), else_=0)


def lock_provider_ids(session: Session, provider_ids: list[str]) -> None:
    """Serialise "record the provider id" with "a status for that id arrives" (PostgreSQL).

    Without it a callback can miss the id (not committed yet) while the worker misses the early
    status (not committed yet either), and the status waits for the next sweep. Keys are taken in
    sorted order, so two holders cannot deadlock. SQLite writers are serialised anyway.
    """
    ids = sorted({p for p in provider_ids if p})
    if ids and session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT count(pg_advisory_xact_lock(hashtext(x))) FROM unnest(CAST(:ids AS text[])) AS x"),
            {"ids": ids},
        )


def apply_statuses(session: Session, items: list[tuple[str, str, str | None]]) -> list[str]:
    """Apply status callbacks (provider id, status, error code) in one transaction; one result each:
    "applied", "ignored" (not newer than what we have) or "early" (the id is not recorded yet).

    Set-based for a group commit's batch: the messages are read and locked in one query, the
    newer statuses written in one executemany. Within a batch, the furthest status of a message is
    the one applied (statuses only move up, so the order they came in changes nothing).
    """
    wanted: dict[str, int] = {}  # provider id -> index of the item to apply
    for n, (provider_id, status, _) in enumerate(items):
        state = PROVIDER_STATES.get(status)
        if state is None:
            continue
        best = wanted.get(provider_id)
        if best is None or STATE_RANK[state] > STATE_RANK[PROVIDER_STATES[items[best][1]]]:
            wanted[provider_id] = n
    results = ["ignored"] * len(items)
    if not wanted:
        return results
    lock_provider_ids(session, list(wanted))
    query = (
        select(_table.c.id, _table.c.provider_message_id, _table.c.state)
        .where(_table.c.provider_message_id.in_(sorted(wanted)))
        .order_by(_table.c.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    current = {provider_id: (message_id, state) for message_id, provider_id, state in session.execute(query)}
    now = utcnow()
    updates, failures = [], []
    for provider_id, n in wanted.items():
        _, status, error_code = items[n]
        state = PROVIDER_STATES[status]
        error_code = error_code[:20] if error_code else None
        if provider_id not in current:
            _store_early(session, provider_id, state, error_code)
            continue
        message_id, old = current[provider_id]
        if STATE_RANK.get(MessageState(old), 0) >= STATE_RANK[state]:
            continue
        updates.append({"b_id": message_id, "b_state": state.value, "b_code": error_code, "b_now": now})
        results[n] = "applied"
        if state in (MessageState.undelivered, MessageState.failed):
            failures.append((message_id, is_bad_address(error_code), error_code))
    for m, (provider_id, status, _) in enumerate(items):
        if status in PROVIDER_STATES and provider_id not in current:
            results[m] = "early"
    if updates:
        session.execute(_STATUS_UPDATE, updates)
    handle_failures(session, failures, now=now)
    return results


def apply_status(session: Session, *, provider_id: str, status: str, error_code: str | None) -> str:
    """Apply one status callback: ``apply_statuses`` for one."""
    return apply_statuses(session, [(provider_id, status, error_code)])[0]


def _store_early(session: Session, provider_id: str, state: MessageState, error_code: str | None) -> None:
    dialect = session.get_bind().dialect.name
    table = EarlyStatus.__table__
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(table).values(
        provider_message_id=provider_id, state=state.value, error_code=error_code, received_at=utcnow()
    )
    # Keep the furthest status if several arrive before the worker records the id.
    rank_new = STATE_RANK[state]
    statement = statement.on_conflict_do_update(
        index_elements=["provider_message_id"],
        set_={
            "state": case((_rank_expression(table.c.state) < rank_new, statement.excluded.state), else_=table.c.state),
            "error_code": func.coalesce(statement.excluded.error_code, table.c.error_code),
        },
    )
    session.execute(statement)


def apply_early_statuses(session: Session, provider_ids: Iterable[str] | None = None) -> int:
    """Fold statuses that arrived before their provider id was recorded; None sweeps them all."""
    query = select(EarlyStatus)
    if provider_ids is not None:
        ids = [p for p in provider_ids if p]
        if not ids:
            return 0
        query = query.where(col(EarlyStatus.provider_message_id).in_(ids))
    earlies = session.scalars(query).all()
    if not earlies:
        return 0
    known = set(
        session.scalars(
            select(_table.c.provider_message_id).where(
                _table.c.provider_message_id.in_(sorted(e.provider_message_id for e in earlies))
            )
        )
    )
    ready = [e for e in earlies if e.provider_message_id in known]
    apply_statuses(session, [(e.provider_message_id, e.state, e.error_code) for e in ready])
    for early in ready:
        session.delete(early)
    session.flush()
    return len(ready)


def pending_early_statuses(session: Session, limit: int = 1000) -> list[str]:
    """Provider ids of early statuses whose message now has its id recorded."""
    return list(
        session.scalars(
            select(EarlyStatus.provider_message_id)
            .join(OutboxMessage, OutboxMessage.provider_message_id == EarlyStatus.provider_message_id)
            .limit(limit)
        )
    )


def purge_early_statuses(session: Session, *, older_than: timedelta) -> int:
    """Delete early statuses older than ``older_than`` (issue 28.4): matched ones are deleted when
    folded; these never matched (the id was never recorded, or the callback was not for us). A status
    lost this way is not a lost receipt: reconciliation fetches a message still ``sent``."""
    table = EarlyStatus.__table__
    result = session.execute(delete(table).where(table.c.received_at < utcnow() - older_than))
    return int(getattr(result, "rowcount", 0) or 0)


def handle_failures(session: Session, failures: list[tuple[int, bool, str | None]], *, now: datetime) -> None:
    """After messages failed: mark bad numbers, try the next contact, or flag the check."""
    if not failures:
        return
    messages = {
        m.id: m
        for m in session.scalars(select(OutboxMessage).where(col(OutboxMessage.id).in_([f[0] for f in failures])))
    }
    moves = []
    for message_id, bad_contact, code in failures:
        message = messages.get(message_id)
        if message is None or message.check_id is None or fact_of(code, message.channel) == RETRY_LATER:
            continue
        scope = reach.bad_scope(message.channel, code) or (message.channel if bad_contact else None)
        if scope is not None and message.contact_id is not None:
            _mark_bad(session, message.contact_id, scope, code, now=now)
            if _queue_next_contact(session, message, now=now):
                continue
        move = _flag_if_nothing_left(session, message)
        if move is not None:
            moves.append(move)
    move_counters(session=session, moves=moves)
    session.flush()


def hand_over(session: Session, message: OutboxMessage, *, now: datetime) -> str:
    """A message that can no longer reach its contact: the next channel or contact by the one rule
    (``contacts.choose``), else the check is flagged. Returns "handed_over", "flagged" or "nothing"."""
    if _queue_next_contact(session, message, now=now):
        return "handed_over"
    move = _flag_if_nothing_left(session, message)
    if move is None:
        return "nothing"
    move_counters(session=session, moves=[move])
    return "flagged"


def _mark_bad(session: Session, contact_id: int, scope: str, code: str | None, *, now: datetime) -> None:
    """Rule out what failed for good: the number (invalid) or only the channel that refused it (its
    ``contact_address`` row, ``contacts.mark_refused``)."""
    if scope != "number":
        reach.mark_refused(session=session, contact_id=contact_id, channel=scope, now=now)
        return
    session.execute(
        update(PatientContact)
        .where(PatientContact.id == contact_id, col(PatientContact.bad_since).is_(None))
        .values(bad_since=now, bad_reason=f"provider error {code}"[:100])
    )


def _queue_next_contact(session: Session, message: OutboxMessage, *, now: datetime) -> bool:
    """Fail over by the one rule: the same number's other channel, else the next contact."""
    check = session.get(SafetyCheck, message.check_id)
    safety_round = session.get(SafetyRound, check.round_id) if check is not None else None
    if check is None or safety_round is None:  # the check (or round) is gone: nobody to fail over for
        return False
    if safety_round.state != RoundState.running or check.last_answer_at is not None:
        return False
    tried = set(
        session.execute(
            select(OutboxMessage.contact_id, OutboxMessage.channel).where(
                OutboxMessage.check_id == check.id, col(OutboxMessage.contact_id).is_not(None)
            )
        ).all()
    )
    contacts = reach.contacts_of_patients(session=session, patient_ids=[check.patient_id]).get(check.patient_id, [])
    chosen = reach.choose(contacts, "failover", tried={tuple(pair) for pair in tried})
    if not chosen:
        return False
    contact, channel = chosen[0]
    # A call that failed over to SMS has no template of its own: the round's first text (a notice round's own).
    template = template_for(safety_round.kind, message.template) or first_template(safety_round.kind)
    outbox_writer.queue(
        session=session,
        round_id=check.round_id,
        messages=[outbox_writer.Queued(check.id, check.risk_tier, contact.id, channel, contact.address(channel))],
        template=template,
        drill=message.drill,
        now=now,
    )
    quiet.hold_family_messages(session, safety_round=safety_round, now=now, check_ids=[check.id])
    log.info("outbox.next_contact", extra={"check_id": check.id, "message_id": message.id, "channel": channel})
    return True


def _flag_if_nothing_left(session: Session, message: OutboxMessage):
    live = session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.check_id == message.check_id,
            OutboxMessage.id != message.id,
            col(OutboxMessage.state).in_([s.value for s in LIVE_STATES]),
        )
    )
    if live:
        return None
    check = session.scalars(
        select(SafetyCheck)
        .where(
            SafetyCheck.id == message.check_id,
            and_(SafetyCheck.state == CheckState.no_answer, col(SafetyCheck.last_answer_at).is_(None)),
        )
        .with_for_update()
    ).first()
    if check is None:
        return None
    check.state = CheckState.delivery_failed.value
    session.add(check)
    log.info("check.delivery_failed", extra={"check_id": check.id, "round_id": check.round_id})
    return (CheckKeys.of(check), CheckState.no_answer.value, CheckState.delivery_failed.value)
