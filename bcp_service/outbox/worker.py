"""The async sender: claim due messages, send them within the shared rate, record the outcomes.

Three kinds of task share one event loop: a claimer (takes rate tokens, claims a batch in a short
transaction, renders the text), ``concurrency`` senders (talk to the provider, holding no database
connection), and a recorder (writes outcomes in batches, in their own short transactions). Every
database call runs in a thread so the loop keeps sending while the database works.

Stopping: ``stop`` set → claimed-but-unsent messages are released, in-flight sends finish, outcomes
are written. Cancelled or killed → nothing more is written; the rows left in ``sending`` are
reclaimed by the next worker after ``send_reclaim_after_seconds`` (at least once; docs/rounds.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from bcp_service.config import Settings
from bcp_service.escalation.calls import call_status_url, twiml_url
from bcp_service.outbox import claims, heartbeat
from bcp_service.outbox.claims import Claimed, Outcome
from bcp_service.outbox.delivery import apply_early_statuses, pending_early_statuses
from bcp_service.outbox.notifier import status_callback_url
from bcp_service.outbox.ratelimit import SharedRateLimiter
from bcp_service.outbox.retry import RetryPolicy
from bcp_service.rounds.locking import take_write_lock
from bcp_service.rounds.messages import render_message

log = logging.getLogger("bcp_service.outbox")
FLUSH_SECONDS = 0.1
MAINTENANCE_SECONDS = 5.0
MAX_PAUSE_SECONDS = 30.0
_DEFAULT = object()


@dataclass(frozen=True)
class Ready:
    message: Claimed
    body: str | None
    error: str | None = None


def new_worker_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(
        self, *, session_factory: Callable[[], Session], notifier, settings: Settings, worker_id: str | None = None,
        concurrency: int | None = None, batch_size: int | None = None, rate: float | None = None,
        status_callback: str | None | object = _DEFAULT, policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.notifier = notifier
        self.settings = settings
        self.worker_id = worker_id or new_worker_id()
        self.concurrency = concurrency or settings.send_concurrency
        self.batch_size = batch_size or settings.send_batch_size
        rate = settings.send_rate_per_second if rate is None else rate
        self.limiter = SharedRateLimiter(session_factory, rate=rate) if rate > 0 else None
        self.callback = status_callback_url(settings) if status_callback is _DEFAULT else status_callback
        self.policy = policy or RetryPolicy.from_settings(settings)
        self.rng = rng or random.Random()
        self.reclaim_after = timedelta(seconds=settings.send_reclaim_after_seconds)
        self.stats: Counter[str] = Counter()
        self._queue: asyncio.Queue[Ready] = asyncio.Queue()
        self._results: list[Outcome] = []
        self._in_flight = 0
        self._pause_until = 0.0
        self._flush_lock = asyncio.Lock()

    @property
    def capacity(self) -> int:
        # Claimed-but-unsent rows are what a crash can duplicate: keep them to about one batch.
        return self.concurrency + self.batch_size

    async def run(self, stop: asyncio.Event | None = None, *, exit_when_idle: bool = False) -> Counter[str]:
        stop = stop or asyncio.Event()
        await asyncio.to_thread(heartbeat.start, self.session_factory, self.worker_id)
        reclaimed = await asyncio.to_thread(claims.reclaim_stale, self.session_factory, older_than=self.reclaim_after)
        log.info("outbox.worker_started", extra={"worker_id": self.worker_id, "concurrency": self.concurrency,
                                                 "rate": self.limiter.rate if self.limiter else 0, "reclaimed": reclaimed})
        helpers = [asyncio.create_task(self._sender()) for _ in range(self.concurrency)]
        helpers.append(asyncio.create_task(self._recorder()))
        helpers.append(asyncio.create_task(self._maintenance()))
        try:
            await self._claimer(stop, exit_when_idle)
            await self._drain()
        finally:
            # On cancellation (a crash, as far as the database is concerned) nothing more is written.
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
        await asyncio.to_thread(heartbeat.beat, self.session_factory, self.worker_id, sent=self.stats["sent"],
                                failed=self.stats["failed"], stopped=True)
        log.info("outbox.worker_stopped", extra={"worker_id": self.worker_id, **self.stats})
        return self.stats

    async def _claimer(self, stop: asyncio.Event, exit_when_idle: bool) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            paused = self._pause_until - loop.time()
            if paused > 0:
                await asyncio.sleep(paused)
                continue
            if self.limiter:
                # Paid-for messages must leave when paid for: a backlog of them would go out in a burst
                # after any stall and overrun the provider's limit. So at most about one chunk
                # (a tenth of a second's worth) waits while the next is being taken.
                wanted = min(self.batch_size, max(1, int(self.limiter.chunk)))
                if self._queue.qsize() >= wanted:
                    await asyncio.sleep(0.002)
                    continue
            else:
                free = self.capacity - self._queue.qsize() - self._in_flight
                if free < min(self.batch_size, self.concurrency):
                    await asyncio.sleep(0.005)
                    continue
                wanted = min(self.batch_size, free)
            granted = await self.limiter.acquire(wanted) if self.limiter else wanted
            try:
                batch = await asyncio.to_thread(self._claim, granted)
            except OperationalError:
                log.warning("outbox.claim_failed", extra={"worker_id": self.worker_id}, exc_info=True)
                batch = []
            if self.limiter and len(batch) < granted:
                self.limiter.give_back(granted - len(batch))
            for ready in batch:
                self._queue.put_nowait(ready)
            if batch:
                continue
            if exit_when_idle and await self._idle():
                return
            try:
                async with asyncio.timeout(self.settings.send_idle_poll_seconds):
                    await stop.wait()
            except TimeoutError:
                pass

    def _claim(self, limit: int) -> list[Ready]:
        claimed = claims.claim_batch(self.session_factory, worker_id=self.worker_id, limit=limit)
        self.stats["claimed"] += len(claimed)
        return [self._render(message) for message in claimed]

    def _render(self, message: Claimed) -> Ready:
        if message.channel == "voice":
            # A call carries no text: the provider fetches its TwiML from the URL with the token.
            if not message.answer_token:
                return Ready(message, None, "token")
            return Ready(message, twiml_url(self.settings, message.answer_token))
        if message.body:
            return Ready(message, message.body)
        try:
            body = render_message(message.template or "", drill=message.drill,
                                  public_base_url=self.settings.public_base_url, token=message.answer_token,
                                  sender=self.settings.sender_name, replies=self.settings.sms_replies)
        except Exception:  # a broken template must fail the message, not the worker
            log.exception("outbox.render_failed", extra={"message_id": message.id})
            return Ready(message, None, "render")
        return Ready(message, body)

    async def _idle(self) -> bool:
        if self._queue.qsize() or self._in_flight:
            return False
        await self._flush()
        return await asyncio.to_thread(claims.count_pending, self.session_factory) == 0

    async def _sender(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            ready = await self._queue.get()
            self._in_flight += 1
            try:
                wait = self._pause_until - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                outcome = await self._send(ready)
                self._results.append(outcome)
                self.stats[outcome.kind] += 1
            finally:
                self._in_flight -= 1
                self._queue.task_done()

    async def _send(self, ready: Ready) -> Outcome:
        message = ready.message
        if ready.body is None:
            return Outcome(message.id, "failed", code=ready.error)
        try:
            if message.channel == "voice":
                request = self.notifier.place_call(to=message.to_number, twiml_url=ready.body,
                                                   status_callback=call_status_url(self.settings))
            else:
                request = self.notifier.send_sms(to=message.to_number, body=ready.body, status_callback=self.callback)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that arrives
            # as the send completes, and the cancelled sender then waited on an empty queue for ever.
            async with asyncio.timeout(self.settings.send_timeout_seconds + 5):
                result = await request
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every provider failure becomes a decision, never a dead worker
            decision = self.policy.decide(exc, attempts=message.attempts, throttled=message.throttled, rng=self.rng)
            if decision.throttled:
                pause = min(MAX_PAUSE_SECONDS, getattr(exc, "retry_after", None) or 1.0)
                self._pause_until = max(self._pause_until, asyncio.get_running_loop().time() + pause)
                self.stats["throttled"] += 1
            return Outcome(message.id, decision.kind, code=decision.code, delay=decision.delay,
                           throttled=decision.throttled)
        return Outcome(message.id, "sent", provider_id=result.provider_id)

    async def _recorder(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self._flush()

    async def _flush(self) -> None:
        async with self._flush_lock:
            if not self._results:
                return
            batch, self._results = self._results, []
            try:
                await asyncio.to_thread(claims.record_outcomes, self.session_factory, batch, worker_id=self.worker_id)
            except Exception:
                # Keep them and try again: until written, the rows stay "sending" and would be resent.
                log.warning("outbox.record_failed", extra={"worker_id": self.worker_id, "count": len(batch)},
                            exc_info=True)
                self._results[:0] = batch
                await asyncio.sleep(0.5)

    async def _maintenance(self) -> None:
        # Claims are renewed well within the reclaim timeout, so only a dead worker's rows go back.
        interval = min(MAINTENANCE_SECONDS, self.reclaim_after.total_seconds() / 4)
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self._maintain)
            except Exception:
                log.warning("outbox.maintenance_failed", extra={"worker_id": self.worker_id}, exc_info=True)

    def _maintain(self) -> None:
        heartbeat.beat(self.session_factory, self.worker_id, sent=self.stats["sent"], failed=self.stats["failed"])
        claims.renew_claims(self.session_factory, worker_id=self.worker_id)
        reclaimed = claims.reclaim_stale(self.session_factory, older_than=self.reclaim_after, worker_id=self.worker_id)
        if reclaimed:
            log.warning("outbox.reclaimed", extra={"worker_id": self.worker_id, "count": reclaimed})
        self._sweep_early_statuses()

    def _sweep_early_statuses(self) -> None:
        with self.session_factory() as session:
            pending = pending_early_statuses(session)
        for provider_id in pending:
            # One row per transaction: this sweep must never hold locks a recorder is waiting for.
            with self.session_factory() as session:
                take_write_lock(session)
                apply_early_statuses(session, [provider_id])
                session.commit()

    async def _drain(self) -> None:
        released = []
        while not self._queue.empty():
            released.append(Outcome(self._queue.get_nowait().message.id, "released"))
            self._queue.task_done()
        self._results.extend(released)
        while self._in_flight:
            await asyncio.sleep(0.01)
        for _ in range(20):
            if not self._results:
                break
            await self._flush()
        try:
            await asyncio.to_thread(self._sweep_early_statuses)
        except Exception:
            log.warning("outbox.maintenance_failed", extra={"worker_id": self.worker_id}, exc_info=True)
