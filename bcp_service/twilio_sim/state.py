"""Mutable simulator state: records, counters, rate limiter and the outbound HTTP client.

Everything here lives on the simulator's event loop; other threads should go
through the HTTP control endpoints rather than touch it directly.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlencode

import httpx
from httpx_aiohttp import AiohttpTransport
from twilio.request_validator import RequestValidator

from bcp_service.twilio_sim import overrides
from bcp_service.twilio_sim.config import SimConfig

log = logging.getLogger("twilio_sim")

STAT_KEYS = (
    "accepted",
    "rejected_429",
    "rejected_auth",
    "rejected_invalid",
    "failed",
    "failed_permanent",
    "failed_transient",
    "callbacks_sent",
    "callbacks_failed",
    "callbacks_retried",  # tries again that a callback URL's connection overrides asked for (#rc=/#rp=)
    "calls",
    "inbound_sent",
    "inbound_failed",
    "answers_sent",
    "answers_failed",
    "answers_skipped",  # the link was already answered (by hand): the automatic answer is not given
)


def new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


class TokenBucket:
    """Refills `rate` tokens a second and holds at most one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def take(self) -> float:
        """Take a token; return 0.0 on success, else seconds until one is free."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class SimState:
    def __init__(self, config: SimConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reset_records()

    def _reset_records(self) -> None:
        self.messages: deque[dict[str, Any]] = deque(maxlen=self.config.max_records)
        self.calls: deque[dict[str, Any]] = deque(maxlen=self.config.max_records)
        self.stats: dict[str, int] = dict.fromkeys(STAT_KEYS, 0)
        self.rng = random.Random(self.config.seed)
        self.bucket = TokenBucket(self.config.rate_limit_per_second)

    def update_config(self, changes: dict[str, Any]) -> SimConfig:
        merged = {**self.config.model_dump(), **changes}
        new = SimConfig.model_validate(merged)
        old, self.config = self.config, new
        if new.rate_limit_per_second != old.rate_limit_per_second:
            self.bucket = TokenBucket(new.rate_limit_per_second)
        if "seed" in changes:
            self.rng = random.Random(new.seed)
        if new.max_records != old.max_records:
            self.messages = deque(self.messages, maxlen=new.max_records)
            self.calls = deque(self.calls, maxlen=new.max_records)
        if new.callback_concurrency != old.callback_concurrency:
            self._semaphore = None
        log.info("twilio_sim.config_updated", extra={"fields": sorted(changes)})
        return new

    def reset(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self._reset_records()

    def chance(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def count(self, key: str, n: int = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + n

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "twilio_sim.task_failed",
                extra={"error_type": type(task.exception()).__name__},
            )

    @property
    def pending_callbacks(self) -> int:
        return len(self._tasks)

    async def flush_callbacks(self, timeout: float = 10.0) -> int:
        """Wait until no callback work is pending; return how many tasks are left on timeout."""
        deadline = time.monotonic() + timeout
        # Loop because a running task may schedule more work (e.g. the call flow).
        while self._tasks:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await asyncio.wait(set(self._tasks), timeout=remaining)
        return len(self._tasks)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # Created lazily so it binds to the loop the app actually runs on.
            limits = httpx.Limits(max_connections=self.config.callback_concurrency)
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(15.0),
                limits=limits,
                # The notifier's transport (aiohttp): the simulator's callbacks cost it a third as much.
                transport=self._transport or AiohttpTransport(limits=limits),
                headers={"User-Agent": "TwilioProxy/1.1"},
            )
        return self._client

    def _limit(self) -> asyncio.Semaphore:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.config.callback_concurrency)
        return self._semaphore

    def sign(self, url: str, params: dict[str, str]) -> str:
        return RequestValidator(self.config.auth_token).compute_signature(url, params)

    async def post_signed(
        self,
        url: str,
        params: dict[str, str],
        *,
        method: str = "POST",
        stat: str = "callbacks",
        target: str | None = None,
    ) -> httpx.Response | None:
        """Send a webhook signed the way Twilio signs it; None when it could not be delivered.

        ``target``: where it actually goes (one process behind the public URL); signed over ``url``.
        Connection overrides in the URL's fragment (``#rc=3&rp=5xx,ct,rt``) are honoured (overrides.py):
        a failed try the policy names is tried again, within the total time.
        """
        url, options = overrides.split(url)
        if target is not None:
            target = overrides.split(target)[0]
        headers = {"I-Twilio-Idempotency-Token": uuid.uuid4().hex}  # one webhook: the same token on every retry
        started = time.monotonic()
        tries = 1 + (options.retries if options else 0)
        response: httpx.Response | None = None
        for attempt in range(tries):
            response, failure = await self._try_once(url, params, method, target, headers, options, stat, started)
            if (
                options is None
                or attempt == tries - 1
                or not options.retries_on(
                    status=response.status_code if response is not None else None, failure=failure
                )
            ):
                break
            delay = options.delay(attempt)
            if time.monotonic() - started + delay >= options.total_ms / 1000:
                break  # past Twilio's total time: no further try
            self.count(f"{stat}_retried")
            await asyncio.sleep(delay)
        if response is None:
            self.count(f"{stat}_failed")
        else:
            self.count(f"{stat}_sent" if response.is_success else f"{stat}_failed")
        return response

    async def _try_once(
        self,
        url: str,
        params: dict[str, str],
        method: str,
        target: str | None,
        headers: dict,
        options: overrides.Overrides | None,
        stat: str,
        started: float,
    ) -> tuple[httpx.Response | None, str | None]:
        """One request: (the response, None) or (None, ``ct``/``rt``: how it failed)."""
        timeout: httpx.Timeout | None = None
        if options is not None:
            left = max(0.1, options.total_ms / 1000 - (time.monotonic() - started))
            timeout = httpx.Timeout(min(options.read_ms / 1000, left), connect=min(options.connect_ms / 1000, left))
        extra = {} if timeout is None else {"timeout": timeout}
        async with self._limit():
            tried = time.monotonic()
            try:
                if method.upper() == "GET":
                    # For GET Twilio signs the full URL including the query string.
                    full = url + ("&" if "?" in url else "?") + urlencode(params)
                    headers["X-Twilio-Signature"] = self.sign(full, {})
                    return await self._http().get(full, headers=headers, **extra), None
                headers["X-Twilio-Signature"] = self.sign(url, params)
                return await self._http().post(target or url, data=params, headers=headers, **extra), None
            except httpx.HTTPError as exc:
                # httpx-aiohttp names every aiohttp connection error "ConnectTimeout", a connection
                # the server closed as well as one that timed out: the cause and the time tell them apart.
                log.warning(
                    "twilio_sim.webhook_failed",
                    extra={
                        "error_type": type(exc).__name__,
                        "cause": type(exc.__cause__).__name__ if exc.__cause__ else None,
                        "seconds": round(time.monotonic() - tried, 3),
                        "stat": stat,
                    },
                )
                return None, "rt" if isinstance(exc, httpx.ReadTimeout) else "ct"

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
