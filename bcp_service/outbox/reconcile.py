"""Reconciliation: ask the provider where messages stand when their receipts never came.

A receipt can be lost (the API was down, the callback URL unreachable...). A message still ``sent``
``send_reconcile_after_minutes`` after its last status is fetched from the provider
(``GET Messages/{Sid}.json``) and the answer applied exactly as a receipt would be: an undelivered
message flags its check and moves on to the next contact, so a lost receipt never leaves a check
wrong (issues 15 and 19). The worker runs this every ``send_reconcile_every_seconds``.

A fetch that fails goes to the back of the line (its ``status_at`` is moved to now, so it is looked
at again one period later and never blocks the others: issue 28.4). A provider that does not know the
message (404, Twilio 20404, or any permanent refusal) is asked at most ``send_reconcile_max_misses``
times, counted in ``last_error_code`` (``fetch_miss:N``); then the message is given up as ``failed``
with code ``status_unknown``, which flags its check for a person like any failed message. A pass
logs one line with its counts, not one per message.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import bindparam, text, update
from sqlmodel import Session

from bcp_service.locking import take_write_lock
from bcp_service.models import OutboxMessage
from bcp_service.models.base import utcnow
from bcp_service.outbox.delivery import apply_statuses
from bcp_service.rounds import counters
from notifiers import NotifierError, PermanentSendError

log = logging.getLogger("bcp_service.outbox")
MISS_PREFIX = "fetch_miss:"
GAVE_UP_CODE = "status_unknown"


def stale_sent(session_factory: Callable[[], Session], *, older_than: timedelta, limit: int) -> list[str]:
    """Provider ids of SMS still ``sent`` whose last status is older than ``older_than``, oldest first."""
    with session_factory() as session:
        rows = session.execute(
            text(
                "SELECT provider_message_id FROM outbox_message WHERE state = 'sent' AND channel = 'sms' "
                "AND provider_message_id IS NOT NULL AND status_at < :cutoff ORDER BY status_at LIMIT :limit"
            ),
            {"cutoff": utcnow() - older_than, "limit": limit},
        ).all()
    return [row[0] for row in rows]


def apply_fetched(session_factory: Callable[[], Session], fetched: list[tuple[str, str, str | None]]) -> list[str]:
    """Apply fetched statuses as receipts; those still ``sent`` are looked at again one period later."""
    with session_factory() as session:
        take_write_lock(session)
        with counters.deferred(session):
            results = apply_statuses(session, fetched)
        table = OutboxMessage.__table__
        unchanged = [
            provider_id for (provider_id, _, _), result in zip(fetched, results, strict=True) if result != "applied"
        ]
        if unchanged:
            session.execute(
                update(table)
                .where(table.c.provider_message_id.in_(unchanged), table.c.state == "sent")
                .values(status_at=utcnow())
            )
        session.commit()
    return results


def _misses(code: str | None) -> int:
    if code and code.startswith(MISS_PREFIX) and code[len(MISS_PREFIX) :].isdigit():
        return int(code[len(MISS_PREFIX) :])
    return 0


def note_failed_fetches(
    session_factory: Callable[[], Session], missing: list[str], failed: list[str], *, max_misses: int
) -> list[str]:
    """Send failed fetches to the back of the line; count the provider's "not found" and give up on a
    message at ``max_misses``. Returns the provider ids given up."""
    table = OutboxMessage.__table__
    now = utcnow()
    given_up: list[str] = []
    with session_factory() as session:
        take_write_lock(session)
        if failed:
            session.execute(
                update(table)
                .where(table.c.provider_message_id.in_(failed), table.c.state == "sent")
                .values(status_at=now)
            )
        if missing:
            rows = session.execute(
                text(
                    "SELECT provider_message_id, last_error_code FROM outbox_message "
                    "WHERE state = 'sent' AND provider_message_id IN :ids"
                ).bindparams(bindparam("ids", expanding=True)),
                {"ids": missing},
            ).all()
            for provider_id, code in rows:
                misses = _misses(code) + 1
                if misses >= max_misses:
                    given_up.append(provider_id)
                    continue
                session.execute(
                    update(table)
                    .where(table.c.provider_message_id == provider_id, table.c.state == "sent")
                    .values(status_at=now, last_error_code=f"{MISS_PREFIX}{misses}")
                )
        if given_up:
            # Applied as the provider's own "failed" would be: the check is handed over or flagged.
            with counters.deferred(session):
                apply_statuses(session, [(provider_id, "failed", GAVE_UP_CODE) for provider_id in given_up])
        session.commit()
    return given_up


async def reconcile(
    session_factory: Callable[[], Session], notifier, *, older_than: timedelta, limit: int = 200, max_misses: int = 5
) -> Counter[str]:
    """One pass: fetch and apply the status of up to ``limit`` messages left behind."""
    stats: Counter[str] = Counter()
    provider_ids = await asyncio.to_thread(stale_sent, session_factory, older_than=older_than, limit=limit)
    fetched = []
    missing, failed, codes = [], [], Counter()
    for provider_id in provider_ids:
        try:
            result = await notifier.fetch_status(provider_id)
        except NotifierError as exc:
            stats["fetch_failed"] += 1
            codes[exc.code or type(exc).__name__] += 1
            (missing if isinstance(exc, PermanentSendError) else failed).append(provider_id)
            continue
        fetched.append((provider_id, result.status, result.error_code))
    if fetched:
        results = await asyncio.to_thread(apply_fetched, session_factory, fetched)
        stats.update(results)
    if missing or failed:
        given_up = await asyncio.to_thread(
            note_failed_fetches, session_factory, missing, failed, max_misses=max(1, max_misses)
        )
        stats["gave_up"] += len(given_up)
    if provider_ids:
        extra = {"looked_at": len(provider_ids), **stats}
        if codes:  # one line per pass with the counts, never one per message (issue 28.4)
            extra["fetch_codes"] = dict(codes)
        (log.warning if stats["fetch_failed"] else log.info)("outbox.reconciled", extra=extra)
    return stats
