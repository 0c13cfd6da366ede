"""Admission control: when the process (and its embedded database) cannot take more, ordinary requests
wait a bounded time and then get 503 with ``Retry-After``, never a 500 after 30 s (issue 29.3).

Requests fall in three classes (``classify``):

- **priority**: answer links (``/a/``), Twilio's webhooks (``/webhooks/``: receipts, replies, voice),
  nurse results (``POST /api/v1/nurse/results``, the form's ``POST /nurse/checks/{id}/result``) and
  ``/healthz``. Never shed and never counted: they are what a disaster is about, and they already
  queue (``group_commit.py``) or journal (``webhooks/journal.py``); the nurse page queues its results
  on the phone and resends them. Their database waits stay as long as before.
- **free**: static files and the board's live stream (a stream held for minutes would keep a slot
  from everybody; its reads are the watcher's, lock-free).
- **ordinary**: every other page and API call. At most ``limit`` run at once per process; the next
  ones wait (in the event loop, holding no thread and no connection) up to ``wait_seconds`` for a
  place, first come first served, and are then answered 503 by ``reject``.

An ordinary request admitted may still meet a busy database: on SQLite its wait for the write lock is
bounded by the same ``wait_seconds`` (``db.BUSY``, set by ``db.get_session``), and the API's wait for a
pooled connection by ``db_pool_timeout_seconds``; ``is_busy`` tells those errors apart, and the app
answers them 503 with ``Retry-After`` too (``app.py``). The limit keeps ordinary requests below the
pool's size, so the priority ones and the group commits still find a connection.

Infrastructure: knows no domain; the 503 itself (a Japanese page or JSON) is the caller's ``reject``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections import deque
from collections.abc import Callable

from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from bcp_service.ratelog import RepeatLog

log = logging.getLogger("bcp_service.admission")
quiet = RepeatLog(log)  # one line per interval with a count, not one per shed request

PRIORITY, ORDINARY, FREE = "priority", "ordinary", "free"
PRIORITY_PREFIXES = ("/a/", "/webhooks/")
PRIORITY_PATHS = frozenset({"/healthz"})
PRIORITY_POSTS = re.compile(r"^(/api/v1/nurse/results|/nurse/checks/[^/]+/result)/?$")
FREE_PREFIXES = ("/static/",)
FREE_PATHS = re.compile(r"^/board/rounds/[^/]+/events/?$|^/nurse/sw\.js$")
SQLITE_LIMIT = 6
BUSY_TEXTS = ("database is locked", "database table is locked")


def classify(method: str, path: str) -> str:
    if path.startswith(PRIORITY_PREFIXES) or path in PRIORITY_PATHS:
        return PRIORITY
    if method == "POST" and PRIORITY_POSTS.match(path):
        return PRIORITY
    if path.startswith(FREE_PREFIXES) or FREE_PATHS.match(path):
        return FREE
    return ORDINARY


def default_limit(dialect: str, pool_size: int) -> int:
    """SQLite: few, as one writer at a time serves them all; PostgreSQL: the pool's size (half its capacity)."""
    return SQLITE_LIMIT if dialect == "sqlite" else max(1, pool_size)


def is_busy(exc: BaseException) -> bool:
    """The database is busy, not broken: SQLite's write lock not had in time, or no pooled connection free."""
    if isinstance(exc, PoolTimeoutError):
        return True
    return isinstance(exc, OperationalError) and any(text in str(exc.orig).lower() for text in BUSY_TEXTS)


class _Ticket:
    __slots__ = ("granted", "loop", "woken")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.woken: asyncio.Future = loop.create_future()
        self.granted = False


class Gate:
    """At most ``limit`` holders; the others wait first come first served, each up to its own timeout.

    A place is handed from the leaving holder to the first waiter under a lock (``granted``), so a waiter
    whose time runs out just then still owns it and no place is lost. Thread-safe: a test's clients may
    run on several event loops."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self.waiting: deque[_Ticket] = deque()
        self.shed = 0  # requests refused since start (tests, the benchmark)
        self._lock = threading.Lock()

    async def enter(self, timeout: float) -> bool:
        with self._lock:
            if self.active < self.limit and not self.waiting:
                self.active += 1
                return True
            ticket = _Ticket(asyncio.get_running_loop())
            self.waiting.append(ticket)
        try:
            await asyncio.wait_for(asyncio.shield(ticket.woken), timeout)
        except TimeoutError:
            pass
        except BaseException:  # cancelled (the client went away): give back a place granted meanwhile
            if self._withdraw(ticket):
                self.leave()
            raise
        if self._withdraw(ticket):
            return True
        with self._lock:
            self.shed += 1
        return False

    def _withdraw(self, ticket: _Ticket) -> bool:
        """Leave the queue; True when the place was granted (then the caller holds it)."""
        with self._lock:
            if not ticket.granted:
                self.waiting.remove(ticket)
            return ticket.granted

    def leave(self) -> None:
        with self._lock:
            if not self.waiting:
                self.active -= 1
                return
            ticket = self.waiting.popleft()
            ticket.granted = True  # the place passes on; ``active`` is unchanged
        try:
            ticket.loop.call_soon_threadsafe(_wake, ticket.woken)
        except RuntimeError:  # that request's loop is gone: it cannot use the place
            self.leave()


def _wake(woken: asyncio.Future) -> None:
    if not woken.done():
        woken.set_result(None)


Reject = Callable[[str, int], Callable]  # (path, retry_after seconds) -> an ASGI response


class AdmissionMiddleware:
    """Pure ASGI (no thread hop): the priority and free routes pass straight through."""

    def __init__(self, app, *, limit: int, wait_seconds: float, retry_after: int, reject: Reject) -> None:
        self.app = app
        self.gate = Gate(limit)
        self.wait_seconds = wait_seconds
        self.retry_after = retry_after
        self.reject = reject

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or classify(scope["method"], scope["path"]) != ORDINARY:
            await self.app(scope, receive, send)
            return
        if not await self.gate.enter(self.wait_seconds):
            quiet.warning("http.shed", cause="admission", extra={"limit": self.gate.limit, "shed": self.gate.shed})
            await self.reject(scope["path"], self.retry_after)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.gate.leave()
