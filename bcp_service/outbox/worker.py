"""The async sender: claim due messages, send them within the shared rate, record the outcomes.

Three kinds of task share one event loop: a claimer (takes rate tokens, claims a batch in a short
transaction, renders the text), ``concurrency`` senders (talk to the provider, holding no database
connection), and a recorder (writes outcomes in batches, in their own short transactions). Every
database call runs in a thread so the loop keeps sending while the database works.

Stopping: ``stop`` set → claimed-but-unsent messages are released, in-flight sends finish, outcomes
are written. Cancelled or killed → nothing more is written; the rows left in ``sending`` are
reclaimed by the next worker after ``send_reclaim_after_seconds`` (at least once; docs/rounds.md).
The stop is bounded whatever the provider does (issue 28.4): the claimer gets a moment to end its
round, in-flight sends get ``send_stop_wait_seconds`` (at most half the lease), then they are cut:
a send that had not reached the provider is released, one that may have is queued again as a retry
(its attempt counted, so the next try looks it up at the provider first: outbox/lookup.py).

Faults (issue 19, docs/faults.md): a database outage makes every loop wait with backoff and carry
on (the worker exits only when stopped); a provider outage pauses the lane (``breaker``); a message
is retried until it no longer matters and never sent after that. An account problem (issue 26.1:
the provider refuses our token, account or sender) pauses the lane for every worker
(``bcp_service/lanes.py``): the message goes back to the queue, nothing is failed, and the lane
resumes when the account probe (``lane_pauses.LanePauses.prober``) succeeds or an admin resumes it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from bcp_service import heartbeat
from bcp_service.channels import CHANNELS
from bcp_service.config import Settings
from bcp_service.db_outage import DatabaseWait, is_outage
from bcp_service.locking import take_write_lock
from bcp_service.outbox import claims
from bcp_service.outbox.breaker import Breaker
from bcp_service.outbox.claims import Claimed, Outcome
from bcp_service.outbox.delivery import apply_early_statuses, pending_early_statuses, purge_early_statuses
from bcp_service.outbox.lane_pauses import LanePauses
from bcp_service.outbox.lookup import send_once
from bcp_service.outbox.notifier import status_callback_url
from bcp_service.outbox.overflow import requeue_overflows
from bcp_service.outbox.ratelimit import SharedRateLimiter
from bcp_service.outbox.reconcile import reconcile
from bcp_service.outbox.retry import RetryPolicy
from bcp_service.rounds.messages import render_message

log = logging.getLogger("bcp_service.outbox")
FLUSH_SECONDS = 0.1
MAINTENANCE_SECONDS = 5.0
MAX_PAUSE_SECONDS = 30.0
EARLY_PURGE_SECONDS = 60.0
_DEFAULT = object()


@dataclass(frozen=True)
class Ready:
    message: Claimed
    body: str | None
    error: str | None = None


def _can_fetch(notifier) -> bool:
    return bool(getattr(notifier, "supports_fetch", callable(getattr(notifier, "fetch_status", None))))


def new_worker_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(
        self,
        *,
        session_factory: Callable[[], Session],
        notifier,
        settings: Settings,
        worker_id: str | None = None,
        concurrency: int | None = None,
        batch_size: int | None = None,
        rate: float | None = None,
        status_callback: str | object | None = _DEFAULT,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        maintenance: list[Callable[[], object]] | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.notifier = notifier
        self.settings = settings
        self.worker_id = worker_id or new_worker_id()
        self.concurrency = concurrency or settings.send_concurrency
        self.batch_size = batch_size or settings.send_batch_size
        rate = settings.send_rate_per_second if rate is None else rate
        self.limiter = SharedRateLimiter(session_factory, rate=rate) if rate > 0 else None
        # Expected tokens per message: the SMS here are two UCS-2 segments (rounds/messages.py).
        self.unit_cost = 2 if settings.send_rate_unit == "segments" else 1
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
        self._held: set[int] = set()  # claimed and not yet recorded: in the queue, in flight or in _results
        self._claim_uncertain = False
        self.validity = timedelta(seconds=settings.send_validity_seconds)
        self.breakers = {
            lane: Breaker(lane, threshold=settings.send_breaker_failures, pause=settings.send_breaker_pause_seconds)
            for lane in CHANNELS
        }
        self.db_claim, self.db_record = DatabaseWait("claim", rng=self.rng), DatabaseWait("record", rng=self.rng)
        self.db_start = DatabaseWait("start", rng=self.rng)
        # More chores for the maintenance loop, given by whoever runs the worker (the CLI replays the
        # webhook journal there: bcp_service.webhooks.journal).
        self.chores = list(maintenance or [])
        # Lanes paused for an account problem (every worker's, from the database): outbox/lane_pauses.py.
        self.lanes = LanePauses(session_factory, settings, self.worker_id)
        self._lanes_read_at = float("-inf")
        self._senders: list[asyncio.Task] = []
        self._requested: dict[int, bool] = {}  # in flight: message id -> its request may have reached the provider
        self._early_purged_at = float("-inf")

    @property
    def capacity(self) -> int:
        # Claimed-but-unsent rows are what a crash can duplicate: keep them to about one batch.
        return self.concurrency + self.batch_size

    async def run(self, stop: asyncio.Event | None = None, *, exit_when_idle: bool = False) -> Counter[str]:
        stop = stop or asyncio.Event()
        # A worker started while the database is down waits for it (it used to exit at once).
        reclaimed = await self._until_database(stop, self._start)
        if reclaimed is None:
            return self.stats
        log.info(
            "outbox.worker_started",
            extra={
                "worker_id": self.worker_id,
                "concurrency": self.concurrency,
                "rate": self.limiter.rate if self.limiter else 0,
                "reclaimed": reclaimed,
            },
        )
        helpers = self._senders = [asyncio.create_task(self._sender()) for _ in range(self.concurrency)]
        helpers.append(asyncio.create_task(self._recorder()))
        helpers.append(asyncio.create_task(self._maintenance()))
        helpers.append(asyncio.create_task(self.lanes.prober(self.notifier)))
        if self.settings.send_reconcile_every_seconds > 0 and _can_fetch(self.notifier):
            helpers.append(asyncio.create_task(self._reconciler()))
        try:
            await self._claim_until_stopped(stop, exit_when_idle)
            await self._drain()
        finally:
            # On cancellation (a crash, as far as the database is concerned) nothing more is written.
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
        try:
            await asyncio.to_thread(
                heartbeat.beat,
                self.session_factory,
                instance_id=self.worker_id,
                name="worker",
                info=self.status(),
                stopped=True,
            )
        except Exception as exc:
            if not is_outage(exc):
                raise
        log.info("outbox.worker_stopped", extra={"worker_id": self.worker_id, **self.stats})
        return self.stats

    def _start(self) -> int:
        heartbeat.start_worker(self.session_factory, self.worker_id, info=self.status())
        return claims.reclaim_stale(self.session_factory, older_than=self.reclaim_after)

    async def _until_database(self, stop: asyncio.Event, call: Callable[[], int]) -> int | None:
        """``call`` in a thread, again and again while the database is out; None when stopped meanwhile."""
        while not stop.is_set():
            try:
                result = await asyncio.to_thread(call)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                await self.db_start.failed(exc, worker_id=self.worker_id)
                continue
            self.db_start.succeeded()
            return result
        return None

    def _stop_wait(self) -> float:
        return max(0.0, min(self.settings.send_stop_wait_seconds, self.reclaim_after.total_seconds() / 2))

    async def _claim_until_stopped(self, stop: asyncio.Event, exit_when_idle: bool) -> None:
        """The claimer until it ends; once ``stop`` is set it gets a moment to end its round, then is cut
        (it may be sleeping out a 429 pause or a database backoff)."""
        claimer = asyncio.create_task(self._claimer(stop, exit_when_idle))
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({claimer, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not claimer.done():
                done, _ = await asyncio.wait({claimer}, timeout=min(1.0, self._stop_wait()))
                if not done:
                    claimer.cancel()
                    self._claim_uncertain = True  # a claim cut short may have committed: released in _drain
                    await asyncio.gather(claimer, return_exceptions=True)
                    return
            await claimer
        finally:
            stopped.cancel()
            if not claimer.done():  # run() itself was cancelled
                claimer.cancel()

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
                wanted = min(self.batch_size, max(1, int(self.limiter.chunk / self.unit_cost)))
                if self._queue.qsize() >= wanted:
                    await asyncio.sleep(0.002)
                    continue
            else:
                free = self.capacity - self._queue.qsize() - self._in_flight
                if free < min(self.batch_size, self.concurrency):
                    await asyncio.sleep(0.005)
                    continue
                wanted = min(self.batch_size, free)
            granted = 0
            try:
                # The limiter's bucket is a database row too: an outage there must not end the worker.
                # Tokens are segments (Twilio counts segments): a message is paid for at its expected
                # cost, then the difference once its text is known.
                if self._claim_uncertain:  # a claim failed: its commit may have reached the database
                    await asyncio.to_thread(self._release_orphans)
                if loop.time() - self._lanes_read_at >= self.settings.send_lane_check_seconds:
                    await self.lanes.read()
                    self._lanes_read_at = loop.time()
                granted = await self.limiter.acquire(wanted * self.unit_cost) if self.limiter else wanted
                batch = await asyncio.to_thread(self._claim, max(1, granted // self.unit_cost))
            except Exception as exc:  # the database is away (or a bug): wait, try again, never exit
                if self.limiter and granted:
                    self.limiter.give_back(granted)
                self._claim_uncertain = True
                await self.db_claim.failed(exc, worker_id=self.worker_id)
                continue
            self.db_claim.succeeded()
            # The rows are ours now: from here on they go out whatever the database does (a batch
            # dropped here stayed "sending", renewed as ours, for good: pg_fast_restart, issue 19).
            if self.limiter:
                cost = sum(self._cost(ready) for ready in batch)
                if cost > granted:
                    await self._pay(cost - granted, stop)
                elif cost < granted:
                    self.limiter.give_back(granted - cost)
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

    def _cost(self, ready: Ready) -> int:
        channel = CHANNELS.get(ready.message.channel)
        if self.settings.send_rate_unit == "messages" or channel is None:
            return 1
        return channel.outbound.cost(ready.body)

    async def _pay(self, tokens: int, stop: asyncio.Event) -> None:
        """The segments a claimed batch costs beyond the tokens taken; waits out an outage of the bucket."""
        paid = 0
        while paid < tokens and not stop.is_set():
            try:
                paid += await self.limiter.acquire(tokens - paid)
            except Exception as exc:
                await self.db_claim.failed(exc, worker_id=self.worker_id)
                continue
            self.db_claim.succeeded()

    def _release_orphans(self) -> None:
        released = claims.release_orphans(self.session_factory, worker_id=self.worker_id, keep=set(self._held))
        self._claim_uncertain = False
        if released:
            log.warning("outbox.orphans_released", extra={"worker_id": self.worker_id, "count": released})

    def _claim(self, limit: int) -> list[Ready]:
        claimed = claims.claim_batch(
            self.session_factory, worker_id=self.worker_id, limit=limit, skip_channels=tuple(sorted(self.lanes.paused))
        )
        self._held.update(message.id for message in claimed)
        self.stats["claimed"] += len(claimed)
        return [self._render(message) for message in claimed]

    def _render(self, message: Claimed) -> Ready:
        # Each channel makes what it sends (channels/<name>/outbound.py): an SMS its text, a call the URL
        # of its TwiML. An unknown channel (a row written by a newer version) fails, not the worker.
        channel = CHANNELS.get(message.channel)
        if channel is None:
            return Ready(message, None, "channel")
        body, error = channel.outbound.render(message, self.settings, render_message)
        return Ready(message, body, error)

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
            self._requested[ready.message.id] = False
            try:
                wait = self._pause_until - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                try:
                    outcome = await self._send(ready)
                except asyncio.CancelledError:  # cut by a stop (_drain): say what became of it
                    self._results.append(self._cut(ready.message.id))
                    raise
                except Exception:  # a bug must not end this sender and strand the message as "sending"
                    log.exception("outbox.send_crashed", extra={"message_id": ready.message.id})
                    outcome = Outcome(ready.message.id, "retry", code="worker", delay=1.0)
                self._results.append(outcome)
                self.stats[outcome.kind] += 1
            finally:
                self._requested.pop(ready.message.id, None)
                self._in_flight -= 1
                self._queue.task_done()

    def _expires_in(self, message: Claimed) -> float | None:
        expires_at = message.expires_at(self.validity)
        if expires_at is None:
            return None
        return (expires_at - datetime.now(UTC)).total_seconds()

    async def _send(self, ready: Ready) -> Outcome:
        message = ready.message
        if ready.body is None:
            return Outcome(message.id, "failed", code=ready.error)
        if message.channel in self.lanes.paused:  # paused after it was claimed: back to the queue, untouched
            return Outcome(message.id, "released")
        breaker = self.breakers[message.channel]  # _render failed any channel outside CHANNELS
        probe = await breaker.admit()  # the lane is paused while the provider is down
        expires_in = self._expires_in(message)
        if expires_in is not None and expires_in <= 0:
            # Past its validity or its round's deadline: a late message would mislead, so it is not sent.
            self.stats["expired"] += 1
            if probe:
                breaker.release_probe()
            return Outcome(message.id, "failed", code="expired")
        try:
            request = CHANNELS[message.channel].outbound.send(
                self.notifier, message, ready.body, self.settings, self.callback, expires_in
            )
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that arrives
            # as the send completes, and the cancelled sender then waited on an empty queue for ever.
            self._requested[message.id] = True
            async with asyncio.timeout(self.settings.send_timeout_seconds + 5):
                result = await send_once(self.notifier, message, ready.body, request)  # outbox/lookup.py
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every provider failure becomes a decision, never a dead worker
            decision = self.policy.decide(
                exc, attempts=message.attempts, throttled=message.throttled, rng=self.rng, expires_in=expires_in
            )
            if decision.kind in ("pause", "suspect"):
                if probe:
                    breaker.succeeded(probe)  # the provider answered: it is up, our account is the problem
                return await self._account_problem(message, exc, decision)
            if decision.kind == "retry" and not decision.throttled:
                breaker.failed(probe)
            elif probe:
                breaker.succeeded(probe)  # the provider answered: it is up, whatever it thought of this one
            if decision.throttled:
                pause = min(MAX_PAUSE_SECONDS, getattr(exc, "retry_after", None) or 1.0)
                self._pause_until = max(self._pause_until, asyncio.get_running_loop().time() + pause)
                self.stats["throttled"] += 1
            return Outcome(
                message.id, decision.kind, code=decision.code, delay=decision.delay, throttled=decision.throttled
            )
        breaker.succeeded(probe)
        self.lanes.succeeded(message.channel)
        return Outcome(message.id, "sent", provider_id=result.provider_id)

    async def _account_problem(self, message: Claimed, exc: Exception, decision) -> Outcome:
        """The provider refuses the account or sender: pause the lane; the message waits, not failed."""
        lane = message.channel
        if decision.kind == "suspect" and self.lanes.suspect_below_burst(lane):
            return Outcome(message.id, "retry", code=decision.code, delay=decision.delay)
        self.stats["paused_by_account"] += 1
        await self.lanes.pause(lane, getattr(exc, "reason", None) or "account", decision.code)
        return Outcome(message.id, "released")

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
                await asyncio.to_thread(self._record, batch)
            except Exception as exc:
                # The database is away: keep them and try again. Until written, the rows stay "sending"
                # (renewed, so nobody else sends them) and would be resent if this worker died.
                self._results[:0] = batch
                await self.db_record.failed(exc, worker_id=self.worker_id)
                return
            self.db_record.succeeded()
            self._held.difference_update(outcome.message_id for outcome in batch)

    def _record(self, batch: list[Outcome]) -> None:
        poisoned = claims.record_isolating(self.session_factory, batch, worker_id=self.worker_id)
        self.stats["record_failed"] += poisoned

    async def _maintenance(self) -> None:
        # Claims are renewed well within the reclaim timeout, so only a dead worker's rows go back.
        interval = min(MAINTENANCE_SECONDS, self.reclaim_after.total_seconds() / 4)
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self._maintain)
            except Exception:
                log.warning("outbox.maintenance_failed", extra={"worker_id": self.worker_id}, exc_info=True)

    async def _reconciler(self) -> None:
        older_than = timedelta(minutes=self.settings.send_reconcile_after_minutes)
        while True:
            await asyncio.sleep(self.settings.send_reconcile_every_seconds)
            try:
                found = await reconcile(
                    self.session_factory,
                    self.notifier,
                    older_than=older_than,
                    max_misses=self.settings.send_reconcile_max_misses,
                )
                self.stats["reconciled"] += found["applied"]
            except Exception as exc:
                await self.db_record.failed(exc, worker_id=self.worker_id)

    def _maintain(self) -> None:
        heartbeat.beat(self.session_factory, instance_id=self.worker_id, name="worker", info=self.status())
        claims.renew_claims(self.session_factory, worker_id=self.worker_id)
        reclaimed = claims.reclaim_stale(self.session_factory, older_than=self.reclaim_after, worker_id=self.worker_id)
        if reclaimed:
            log.warning("outbox.reclaimed", extra={"worker_id": self.worker_id, "count": reclaimed})
        self._sweep_early_statuses()
        self._purge_early_statuses()
        overflows = requeue_overflows(self.session_factory, validity=self.validity, policy=self.policy, rng=self.rng)
        self.stats.update({f"overflow_{kind}": n for kind, n in overflows.items()})
        for chore in self.chores:
            chore()

    def status(self) -> dict:
        """What the board shows about sending: lanes paused because the provider is down."""
        down = {lane: b.unavailable_since.isoformat() for lane, b in self.breakers.items() if b.unavailable_since}
        return {
            "provider_unavailable_since": min(down.values(), default=None),
            "lanes_down": sorted(down),
            "lanes_paused": sorted(self.lanes.paused),
            "sent": self.stats["sent"],
            "failed": self.stats["failed"],
            "expired": self.stats["expired"],
        }

    def _sweep_early_statuses(self) -> None:
        with self.session_factory() as session:
            pending = pending_early_statuses(session)
        for provider_id in pending:
            # One row per transaction: this sweep must never hold locks a recorder is waiting for.
            with self.session_factory() as session:
                take_write_lock(session)
                apply_early_statuses(session, [provider_id])
                session.commit()

    def _purge_early_statuses(self) -> None:
        """Early statuses never matched (their message's id was never recorded, or a row of another
        system's) are deleted after ``early_status_max_age_minutes``, at most once a minute."""
        now = time.monotonic()
        if now - self._early_purged_at < EARLY_PURGE_SECONDS:
            return
        self._early_purged_at = now
        with self.session_factory() as session:
            take_write_lock(session)
            purged = purge_early_statuses(
                session, older_than=timedelta(minutes=self.settings.early_status_max_age_minutes)
            )
            session.commit()
        if purged:
            log.info("outbox.early_statuses_expired", extra={"count": purged})

    def _cut(self, message_id: int) -> Outcome:
        """A send cut by a stop: released if its request never left, else retried (it may have reached the
        provider: its attempt stays counted and the next try looks it up first)."""
        if self._requested.get(message_id):
            self.stats["cut_in_flight"] += 1
            return Outcome(message_id, "retry", code="stopped", delay=0.0)
        return Outcome(message_id, "released")

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        # The whole stop fits in the lease: a dead worker's rows would be reclaimed after it anyway.
        deadline = loop.time() + max(self._stop_wait(), self.reclaim_after.total_seconds() * 0.75)
        released = []
        while not self._queue.empty():
            released.append(Outcome(self._queue.get_nowait().message.id, "released"))
            self._queue.task_done()
        self._results.extend(released)
        cut_at = loop.time() + self._stop_wait()
        while self._in_flight and loop.time() < cut_at:
            await asyncio.sleep(0.01)
        if self._in_flight:  # the provider holds them (unreachable, slow): cut, and say so once
            log.warning("outbox.stop_cut_sends", extra={"worker_id": self.worker_id, "count": self._in_flight})
            for task in self._senders:
                task.cancel()
            await asyncio.gather(*self._senders, return_exceptions=True)
        try:
            async with asyncio.timeout(max(0.1, deadline - loop.time())):
                if self._claim_uncertain:
                    await asyncio.to_thread(self._release_orphans)
                for _ in range(20):
                    if not self._results:
                        break
                    await self._flush()
                await asyncio.to_thread(self._sweep_early_statuses)
        except TimeoutError:
            log.warning("outbox.stop_unrecorded", extra={"worker_id": self.worker_id, "count": len(self._results)})
        except Exception:
            log.warning("outbox.maintenance_failed", extra={"worker_id": self.worker_id}, exc_info=True)
