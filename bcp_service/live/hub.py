"""The per-process fan-out: one watcher per round being viewed, one view per distinct (scope, filters),
any number of subscribers (server-sent-event streams) per view.

A watcher sleeps until it is woken (a PostgreSQL notification, see ``signals``) or its poll interval
passes (SQLite; and a slow safety poll on PostgreSQL that compares a cheap signature first), then
reads what changed once, lets each view compute its update in a worker thread, and puts the message
on each subscriber's queue. Database reads never run on the event loop. A subscriber that cannot
keep up has its queue emptied and gets a fresh snapshot instead: updates carry whole sections, so
nothing but older feed lines is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from anyio import to_thread
from sqlalchemy.orm import sessionmaker

log = logging.getLogger("bcp_service.live")


def frame(message: dict) -> str:
    """The server-sent event for a message: ``id:`` the latest answer id, the type as event name."""
    data = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    return f"id: {message.get('answer_id', 0)}\nevent: {message['type']}\ndata: {data}\n\n"


QUEUE_SIZE = 64
RESET = {"type": "reset"}
CLOSE = {"type": "close"}


class Source(Protocol):
    def signature(self, session) -> Hashable: ...
    def read(self, session, *, advance: bool = True, notified_ids: set[int] | None = None) -> Any: ...
    def start_at(self, latest: int, session) -> None: ...


class View(Protocol):
    pending: bool  # has changes it held back (throttled): refresh again soon even without news

    def load(self, session, wake) -> None: ...
    def refresh(self, session, wake, *, slow: bool = True) -> dict | None: ...
    def slow_due(self) -> bool: ...
    def refresh_slow(self, session, wake) -> dict | None: ...
    def snapshot(self) -> dict: ...


@dataclass(eq=False)
class Subscriber:
    round_id: int
    key: Hashable
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    closed: bool = False

    def put(self, message: dict | str) -> None:
        """A message (or its frame, already serialised) for this stream."""
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESET)


@dataclass(eq=False)
class ViewHandle:
    view: View
    subscribers: set[Subscriber] = field(default_factory=set)


class RoundWatcher:
    def __init__(self, hub: LiveHub, round_id: int) -> None:
        self.hub = hub
        self.round_id = round_id
        self.source = hub.source_factory(round_id)
        self.views: dict[Hashable, ViewHandle] = {}
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.closing = False
        self.signature: Hashable = None
        # Answer ids PostgreSQL announced since the last refresh (None: look through the window instead).
        self.notified_ids: set[int] = set()
        self.resync = True
        self.last_wake: Any = None
        self.slow_task: asyncio.Task | None = None
        self._adding = asyncio.Lock()

    async def add(self, key: Hashable, make_view: Callable[[], View]) -> Subscriber:
        subscriber = Subscriber(self.round_id, key)
        async with self._adding:
            handle = self.views.get(key)
            if handle is None:
                view = make_view()
                await to_thread.run_sync(self._load, view)
                handle = self.views[key] = ViewHandle(view)
        handle.subscribers.add(subscriber)
        subscriber.put(handle.view.snapshot())
        if self.task is None:
            self.task = asyncio.create_task(self.run(), name=f"board-watch-{self.round_id}")
            self.slow_task = asyncio.create_task(self.run_slow(), name=f"board-watch-slow-{self.round_id}")
        return subscriber

    def remove(self, subscriber: Subscriber) -> None:
        handle = self.views.get(subscriber.key)
        if handle is None:
            return
        handle.subscribers.discard(subscriber)
        if not handle.subscribers:
            del self.views[subscriber.key]
        if not self.views:
            self.closing = True
            self.wake.set()

    def snapshot(self, key: Hashable) -> dict | None:
        handle = self.views.get(key)
        return handle.view.snapshot() if handle else None

    async def run(self) -> None:
        settings = self.hub.settings
        interval = settings.board_poll_seconds if not self.hub.notifications else settings.board_safety_poll_seconds
        try:
            while not self.closing:
                try:
                    async with asyncio.timeout(interval):
                        await self.wake.wait()
                    notified = True
                except TimeoutError:
                    notified = False
                if self.closing:
                    break
                self.wake.clear()
                handles = list(self.views.values())
                ids, self.notified_ids = self.notified_ids, set()
                # Only an uninterrupted run of notifications lists every answer; otherwise read the window.
                known = None if (self.resync or not notified or not self.hub.notifications) else ids
                self.resync = False
                began = time.monotonic()
                try:
                    messages = await to_thread.run_sync(self._refresh, handles, notified, known)
                except Exception:
                    log.exception("live.refresh_failed", extra={"round_id": self.round_id})
                    await asyncio.sleep(1.0)
                    continue
                self._push(messages)
                # A burst of answers becomes one update per interval, whatever the rate; and the board
                # takes at most two thirds of the process from the requests that record answers.
                await asyncio.sleep(max(settings.board_min_push_seconds, (time.monotonic() - began) / 2))
        finally:
            if self.slow_task is not None:
                self.slow_task.cancel()
            self.hub.forget(self)

    async def run_slow(self) -> None:
        """The lists and tables, on their own clock: a new answer's feed line never waits for them."""
        while not self.closing:
            await asyncio.sleep(self.hub.settings.board_min_push_seconds)
            handles = [h for h in self.views.values() if h.view.slow_due()]
            if not handles or self.last_wake is None:
                continue
            try:
                self._push(await to_thread.run_sync(self._refresh_slow, handles, self.last_wake))
            except Exception:
                log.exception("live.refresh_failed", extra={"round_id": self.round_id})
                await asyncio.sleep(1.0)

    def _push(self, messages: list[tuple[ViewHandle, dict]]) -> None:
        for handle, message in messages:
            text = frame(message)  # once per view, not once per subscriber
            for subscriber in list(handle.subscribers):
                subscriber.put(text)

    def _refresh_slow(self, handles: list[ViewHandle], wake) -> list[tuple[ViewHandle, dict]]:
        with self.hub.session_factory() as session:
            messages = []
            for handle in handles:
                message = handle.view.refresh_slow(session, wake)
                if message is not None:
                    messages.append((handle, message))
            session.rollback()
            return messages

    def _load(self, view: View) -> None:
        with self.hub.session_factory() as session:
            wake = self.source.read(session, advance=False)
            view.load(session, wake)
            # The first view starts the watcher's position, so no answer falls between the two.
            self.source.start_at(wake.last_answer_id, session)
            session.rollback()

    def _refresh(
        self, handles: list[ViewHandle], notified: bool, known: set[int] | None
    ) -> list[tuple[ViewHandle, dict]]:
        with self.hub.session_factory() as session:
            if not notified:
                signature = self.source.signature(session)
                if signature == self.signature:
                    session.rollback()
                    return []
                self.signature = signature
            wake = self.last_wake = self.source.read(session, notified_ids=known)
            messages = []
            for handle in handles:
                message = handle.view.refresh(session, wake, slow=False)
                if message is not None:
                    messages.append((handle, message))
            session.rollback()
            return messages


class LiveHub:
    """Everything live in one process. Created lazily on the first subscription, bound to that event loop."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker,
        settings,
        source_factory: Callable[[int], Source],
        listener_factory: Callable[[LiveHub], Any] | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.source_factory = source_factory
        self.listener_factory = listener_factory
        self.notifications = listener_factory is not None
        self.watchers: dict[int, RoundWatcher] = {}
        self.listener_task: asyncio.Task | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            # A new event loop (tests start one per client): what belonged to the old one is gone with it.
            self.loop = loop
            self.watchers = {}
            self.listener_task = None
        if self.listener_factory is not None and (self.listener_task is None or self.listener_task.done()):
            self.listener_task = asyncio.create_task(self.listener_factory(self).run(), name="board-listen")

    async def subscribe(self, round_id: int, key: Hashable, make_view: Callable[[], View]) -> Subscriber:
        self._bind_loop()
        watcher = self.watchers.get(round_id)
        if watcher is None or watcher.closing:
            watcher = self.watchers[round_id] = RoundWatcher(self, round_id)
        return await watcher.add(key, make_view)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        watcher = self.watchers.get(subscriber.round_id)
        if watcher is not None:
            watcher.remove(subscriber)

    def resnapshot(self, subscriber: Subscriber) -> dict | None:
        watcher = self.watchers.get(subscriber.round_id)
        return watcher.snapshot(subscriber.key) if watcher else None

    def forget(self, watcher: RoundWatcher) -> None:
        if self.watchers.get(watcher.round_id) is watcher:
            del self.watchers[watcher.round_id]

    def notify(self, round_id: int, answer_id: int | None = None) -> None:
        watcher = self.watchers.get(round_id)
        if watcher is not None:
            if answer_id is not None:
                watcher.notified_ids.add(answer_id)
            watcher.wake.set()

    def wake_all(self) -> None:
        """After (re)connecting: notifications may have been lost, so every watcher reads its window."""
        for watcher in self.watchers.values():
            watcher.resync = True
            watcher.wake.set()

    def close(self) -> None:
        """End every stream (their browsers reconnect elsewhere) and stop listening; call from the loop."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self.loop is None or running is not self.loop:
            # Bound to another (finished) event loop: its tasks ended with it.
            self.watchers, self.listener_task, self.loop = {}, None, None
            return
        for watcher in list(self.watchers.values()):
            for handle in list(watcher.views.values()):
                for subscriber in list(handle.subscribers):
                    subscriber.closed = True
                    subscriber.put(CLOSE)
            watcher.closing = True
            watcher.wake.set()
        if self.listener_task is not None:
            self.listener_task.cancel()
            self.listener_task = None
