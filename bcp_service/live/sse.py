"""Server-sent events: the wire format and the stream of one subscriber.

Each message is an event named ``snapshot`` (everything the view shows) or ``update`` (what changed),
with ``id:`` the latest answer id. The browser's EventSource reconnects by itself after ``retry``
milliseconds; the new stream starts with a fresh snapshot, and the page merges feed lines by answer
id, so nothing needs replaying from ``Last-Event-ID``. Comments keep proxies from closing an idle
stream. A stream re-checks its login every ``credential_check_seconds`` (``alive``) and ends with an
``expired`` event when the token or session has died (revoked, expired, reset, disabled, idle): the page
then goes to the login page, and the reconnect gets 401. It also ends after ``board_stream_max_seconds``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from bcp_service.live.hub import CLOSE, RESET, LiveHub, Subscriber, frame

RETRY_MS = 2000
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
EXPIRED = "event: expired\ndata: {}\n\n"


async def stream(
    hub: LiveHub,
    subscriber: Subscriber,
    *,
    keepalive: float,
    max_seconds: float,
    alive: Callable[[], Awaitable[bool]] | None = None,
    check_every: float = 2.0,
) -> AsyncIterator[str]:
    now = time.monotonic()
    deadline, next_check, next_keepalive = now + max_seconds, now + check_every, now + keepalive
    try:
        yield f"retry: {RETRY_MS}\n\n"
        while not subscriber.closed:
            now = time.monotonic()
            if now >= deadline:
                break
            if alive is not None and now >= next_check:
                if not await alive():
                    yield EXPIRED
                    break
                next_check = now + check_every
            if now >= next_keepalive:
                yield ": keep-alive\n\n"
                next_keepalive = now + keepalive
            wake = min(deadline, next_keepalive, next_check if alive is not None else deadline)
            try:
                async with asyncio.timeout(max(0.0, wake - now)):
                    message = await subscriber.queue.get()
            except TimeoutError:
                continue
            if message is CLOSE:
                break
            if message is RESET:
                message = hub.resnapshot(subscriber)
                if message is None:
                    break
            yield message if isinstance(message, str) else frame(message)
    finally:
        hub.unsubscribe(subscriber)
