"""Reconciliation: ask the provider where messages stand when their receipts never came.

A receipt can be lost (the API was down, the callback URL unreachable...). A message still ``sent``
``send_reconcile_after_minutes`` after its last status is fetched from the provider
(``GET Messages/{Sid}.json``) and the answer applied exactly as a receipt would be: an undelivered
message flags its check and moves on to the next contact, so a lost receipt never leaves a check
wrong (issues 15 and 19). The worker runs this every ``send_reconcile_every_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import text, update
from sqlmodel import Session

from bcp_service.locking import take_write_lock
from bcp_service.models import OutboxMessage
from bcp_service.models.base import utcnow
from bcp_service.outbox.delivery import apply_statuses
from bcp_service.rounds import counters
from notifiers import NotifierError

log = logging.getLogger("bcp_service.outbox")


def stale_sent(session_factory: Callable[[], Session], *, older_than: timedelta, limit: int) -> list[str]:
    """Provider ids of SMS still ``sent`` whose last status is older than ``older_than``, oldest first."""
    with session_factory() as session:
        rows = session.execute(
            text("SELECT provider_message_id FROM outbox_message WHERE state = 'sent' AND channel = 'sms' "
                 "AND provider_message_id IS NOT NULL AND status_at < :cutoff ORDER BY status_at LIMIT :limit"),
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
        unchanged = [provider_id for (provider_id, _, _), result in zip(fetched, results, strict=True)
                     if result != "applied"]
        if unchanged:
            session.execute(update(table).where(table.c.provider_message_id.in_(unchanged), table.c.state == "sent")
                            .values(status_at=utcnow()))
        session.commit()
    return results


async def reconcile(session_factory: Callable[[], Session], notifier, *, older_than: timedelta,
                    limit: int = 200) -> Counter[str]:
    """One pass: fetch and apply the status of up to ``limit`` messages left behind."""
    stats: Counter[str] = Counter()
    provider_ids = await asyncio.to_thread(stale_sent, session_factory, older_than=older_than, limit=limit)
    fetched = []
    for provider_id in provider_ids:
        try:
            result = await notifier.fetch_status(provider_id)
        except NotifierError as exc:
            stats["fetch_failed"] += 1
            log.warning("outbox.reconcile_fetch_failed", extra={"provider_id": provider_id, "code": exc.code})
            continue
        fetched.append((provider_id, result.status, result.error_code))
    if fetched:
        results = await asyncio.to_thread(apply_fetched, session_factory, fetched)
        stats.update(results)
    if provider_ids:
        log.info("outbox.reconciled", extra={"looked_at": len(provider_ids), **stats})
    return stats
