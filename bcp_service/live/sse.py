"""Server-sent events: the wire format and the stream of one subscriber.

Each message is an event named ``snapshot`` (everything the view shows) or ``update`` (what changed),
with ``id:`` the latest answer id. The browser's EventSource reconnects by itself after ``retry``
milliseconds; the new stream starts with a fresh snapshot, and the page merges feed lines by answer
id, so nothing needs replaying from ``Last-Event-ID``. Comments keep proxies from closing an idle
stream. A stream ends after ``board_stream_max_seconds`` so a revoked login stops receiving soon.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from bcp_service.live.hub import CLOSE, RESET, LiveHub, Subscriber, frame

RETRY_MS = 2000
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no", "Connection": "keep-alive"}




async def stream(hub: LiveHub, subscriber: Subscriber, *, keepalive: float, max_seconds: float) -> AsyncIterator[str]:
    deadline = time.monotonic() + max_seconds
    try:
        yield f"retry: {RETRY_MS}\n\n"
        while not subscriber.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(min(keepalive, remaining)):
                    message = await subscriber.queue.get()
            except TimeoutError:
                yield ": keep-alive\n\n"
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
