"""The database side of the sender: claim, release, reclaim, record. Each call is one short transaction.

Claiming marks rows ``sending`` and commits before anything is sent, so no connection is held
while the provider is waited on. PostgreSQL uses ``FOR UPDATE SKIP LOCKED`` so workers never
claim the same row. SQLite has no row locks: its single statement is atomic and the worker lease
(``heartbeat.ensure_single_sqlite_worker``) keeps to one worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, text, update
from sqlmodel import Session

from bcp_service.clock import aware
from bcp_service.db_outage import is_outage
from bcp_service.locking import take_write_lock
from bcp_service.models import OutboxMessage
from bcp_service.models.base import utcnow
from bcp_service.models.outbox import MessageState
from bcp_service.outbox import delivery

log = logging.getLogger("bcp_service.outbox")
SessionFactory = Callable[[], Session]

CLAIM_COLUMNS = (
    "id, round_id, check_id, contact_id, to_number, template, body, drill, answer_token, "
    "attempts, throttled, priority, channel, created_at, "
    "(SELECT deadline FROM safety_round WHERE safety_round.id = outbox_message.round_id)"
)


@dataclass(frozen=True)
class Claimed:
    id: int
    round_id: int | None
    check_id: int | None
    contact_id: int | None
    to_number: str
    template: str | None
    body: str | None
    drill: bool
    answer_token: str | None
    attempts: int
    throttled: int
    priority: int
    channel: str = "sms"  # "voice": a call placed by escalation (docs/escalation.md)
    created_at: datetime | None = None
    round_deadline: datetime | None = None

    def expires_at(self, validity: timedelta) -> datetime | None:
        """After this the message no longer matters: it is not sent, nor retried (issue 19)."""
        ends = [aware(t) for t in (self.round_deadline,) if t is not None]
        if self.created_at is not None:
            ends.append(aware(self.created_at) + validity)
        return min(ends, default=None)


@dataclass(frozen=True)
class Outcome:
    message_id: int
    kind: str  # "sent" | "retry" | "failed" | "bad_contact" | "released"
    provider_id: str | None = None
    code: str | None = None
    delay: float = 0.0
    throttled: bool = False


def claim_batch(
    session_factory: SessionFactory, *, worker_id: str, limit: int, skip_channels: tuple[str, ...] = ()
) -> list[Claimed]:
    """Mark up to ``limit`` due messages as ours, critical patients first; ``skip_channels``: paused lanes."""
    with session_factory() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        lock = "FOR UPDATE SKIP LOCKED" if postgres else ""
        now = utcnow()
        params: dict = {"worker": worker_id, "now": now, "limit": limit}
        skip = ""
        if skip_channels:
            names = [f":skip{i}" for i in range(len(skip_channels))]
            skip = f"AND channel NOT IN ({', '.join(names)}) "
            params.update({f"skip{i}": channel for i, channel in enumerate(skip_channels)})
        rows = session.execute(
            text(
                f"UPDATE outbox_message SET state = 'sending', claimed_by = :worker, claimed_at = :now, "
                f"attempts = attempts + 1 WHERE id IN (SELECT id FROM outbox_message WHERE state = 'queued' "
                f"AND next_attempt_at <= :now {skip}ORDER BY priority, id LIMIT :limit {lock}) "
                f"RETURNING {CLAIM_COLUMNS}"
            ),
            params,
        ).all()
        session.commit()
    # RETURNING lists CLAIM_COLUMNS in the dataclass's field order; mypy cannot count a row's columns.
    claimed = [Claimed(*row[:-2], _datetime(row[-2]), _datetime(row[-1])) for row in rows]  # type: ignore[call-arg]
    claimed.sort(key=lambda m: (m.priority, m.id))
    return claimed


def _datetime(value) -> datetime | None:
    # SQLite hands raw-SQL timestamps back as text.
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _skip_locked(session: Session) -> str:
    # Rows another transaction is writing right now are busy, not stale: skip them rather than wait
    # (waiting on rows locked in another order is how two workers deadlock).
    return "ORDER BY id FOR UPDATE SKIP LOCKED" if session.get_bind().dialect.name == "postgresql" else ""


def renew_claims(session_factory: SessionFactory, *, worker_id: str) -> int:
    """Keep our claims fresh: only a worker that stopped renewing (it died) has its rows reclaimed."""
    with session_factory() as session:
        result = session.execute(
            text(
                f"UPDATE outbox_message SET claimed_at = :now WHERE id IN (SELECT id FROM outbox_message "
                f"WHERE claimed_by = :worker AND state = 'sending' {_skip_locked(session)})"
            ),
            {"now": utcnow(), "worker": worker_id},
        )
        session.commit()
        return result.rowcount or 0


def release_orphans(session_factory: SessionFactory, *, worker_id: str, keep: set[int]) -> int:
    """Put back rows marked ours that we do not hold: a claim whose commit reached the database
    while its answer was lost (a connection cut mid-commit). Renewed, they would wait for ever."""
    with session_factory() as session:
        rows = (
            session.execute(
                text(
                    f"SELECT id FROM outbox_message WHERE claimed_by = :worker AND state = 'sending' "
                    f"{_skip_locked(session)}"
                ),
                {"worker": worker_id},
            )
            .scalars()
            .all()
        )
        orphans = [row for row in rows if row not in keep]
        if orphans:
            table = OutboxMessage.__table__
            session.execute(
                update(table)
                .where(table.c.id.in_(orphans), table.c.state == MessageState.sending)
                .values(
                    state=MessageState.queued.value,
                    claimed_by=None,
                    next_attempt_at=utcnow(),
                    attempts=table.c.attempts - 1,
                )
            )
        session.commit()
        return len(orphans)


def reclaim_stale(session_factory: SessionFactory, *, older_than: timedelta, worker_id: str = "") -> int:
    """Put back messages whose worker died while sending them: at least once, never lost.

    A worker never reclaims its own rows: while it runs it renews them, and they are in its hands.
    """
    with session_factory() as session:
        now = utcnow()
        result = session.execute(
            text(
                f"UPDATE outbox_message SET state = 'queued', claimed_by = NULL, next_attempt_at = :now "
                f"WHERE id IN (SELECT id FROM outbox_message WHERE state = 'sending' AND claimed_at < :cutoff "
                f"AND (claimed_by IS NULL OR claimed_by <> :worker) {_skip_locked(session)})"
            ),
            {"now": now, "cutoff": now - older_than, "worker": worker_id},
        )
        session.commit()
        return result.rowcount or 0


def count_pending(session_factory: SessionFactory, *, due_only: bool = False) -> int:
    """Messages still to send (queued, or claimed by a worker)."""
    with session_factory() as session:
        query = "SELECT count(*) FROM outbox_message WHERE state IN ('queued', 'sending')"
        params = {}
        if due_only:
            query = "SELECT count(*) FROM outbox_message WHERE state = 'queued' AND next_attempt_at <= :now"
            params = {"now": utcnow()}
        return session.execute(text(query), params).scalar() or 0


def record_outcomes(session_factory: SessionFactory, outcomes: list[Outcome], *, worker_id: str) -> None:
    """Write a batch of send results in one transaction."""
    if not outcomes:
        return
    now = utcnow()
    # Rows in id order: two transactions locking overlapping rows in the same order cannot deadlock.
    outcomes = sorted(outcomes, key=lambda o: o.message_id)
    with session_factory() as session:
        take_write_lock(session)
        _record(session, outcomes, now=now, worker_id=worker_id)
        session.commit()


def record_isolating(session_factory: SessionFactory, outcomes: list[Outcome], *, worker_id: str) -> int:
    """``record_outcomes``; a batch that fails for one bad item is split until that item is alone.

    A database outage fails every half alike and is raised for the caller to wait and retry. An
    item that fails alone (a bug, a constraint) is recorded as failed with code "record" so a person
    sees it, instead of the batch being retried for ever (issue 14: a poison batch). Returns how many
    items were isolated so.
    """
    try:
        record_outcomes(session_factory, outcomes, worker_id=worker_id)
        return 0
    except Exception as exc:
        if is_outage(exc):
            raise
        if len(outcomes) > 1:
            middle = len(outcomes) // 2
            return record_isolating(session_factory, outcomes[:middle], worker_id=worker_id) + record_isolating(
                session_factory, outcomes[middle:], worker_id=worker_id
            )
        poison = outcomes[0]
        log.error(
            "outbox.record_item_failed",
            extra={
                "worker_id": worker_id,
                "message_id": poison.message_id,
                "kind": poison.kind,
                "error": type(exc).__name__,
            },
        )
        if poison.kind != "failed" or poison.code != "record":
            record_isolating(
                session_factory, [Outcome(poison.message_id, "failed", code="record")], worker_id=worker_id
            )
        return 1


def _record(session: Session, outcomes: list[Outcome], *, now: datetime, worker_id: str) -> None:
    table = OutboxMessage.__table__
    c = table.c
    sent = [o for o in outcomes if o.kind == "sent"]
    if sent:
        delivery.lock_provider_ids(session, [o.provider_id for o in sent])
        # Only a row still ours moves to "sent"; a row that is already further stays where it is.
        session.execute(
            update(table)
            .where(c.id == bindparam("b_id"))
            .values(
                state=text("CASE WHEN state IN ('queued', 'sending') THEN 'sent' ELSE state END"),
                provider_message_id=bindparam("b_provider"),
                sent_at=now,
                status_at=now,
                answer_token=None,
                claimed_by=None,
            ),
            [{"b_id": o.message_id, "b_provider": o.provider_id} for o in sent],
        )
        delivery.apply_early_statuses(session, [o.provider_id for o in sent])
    retries = [o for o in outcomes if o.kind in ("retry", "released")]
    if retries:
        session.execute(
            update(table)
            .where(c.id == bindparam("b_id"), c.state == MessageState.sending)
            .values(
                state=MessageState.queued.value,
                claimed_by=None,
                next_attempt_at=bindparam("b_next"),
                last_error_code=bindparam("b_code"),
                # A 429 or a message never handed over is not an attempt: the provider sent nothing.
                attempts=c.attempts - bindparam("b_undo"),
                throttled=c.throttled + bindparam("b_throttled"),
            ),
            [
                {
                    "b_id": o.message_id,
                    "b_next": now + timedelta(seconds=o.delay),
                    "b_code": o.code if o.kind == "retry" else None,
                    "b_undo": 1 if (o.throttled or o.kind == "released") else 0,
                    "b_throttled": 1 if o.throttled else 0,
                }
                for o in retries
            ],
        )
    failed = [o for o in outcomes if o.kind in ("failed", "bad_contact")]
    if failed:
        session.execute(
            update(table)
            .where(c.id == bindparam("b_id"), c.state == MessageState.sending)
            .values(
                state=MessageState.failed.value,
                claimed_by=None,
                last_error_code=bindparam("b_code"),
                answer_token=None,
                status_at=now,
            ),
            [{"b_id": o.message_id, "b_code": o.code} for o in failed],
        )
        delivery.handle_failures(session, [(o.message_id, o.kind == "bad_contact", o.code) for o in failed], now=now)
