"""Group commit: the writes of many concurrent requests in one transaction.

In a disaster burst, hundreds of requests a second (delivery receipts, SMS replies, taps on the
answer page) each want one short write. One transaction each costs a pool checkout, thread hops,
a commit that waits for the disk, and, for answers, the round's counter rows locked until that
commit, which every other answer to the round waits for. A ``GroupCommit`` hands each request's
write to one writer thread per process; the thread applies everything waiting in one transaction
and commits once. A request is answered only after the commit that holds its write, so
"accepted" still means "in the database".

Batches form by themselves: while one commits, the next requests queue. An idle or lightly used
process writes batches of one, as before. When a batch fails (a bad item, a deadlock), it is rolled
back and its items are applied one at a time, so one bad write fails only its own request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Generic, TypeVar

from sqlmodel import Session

from bcp_service.db import unit_of_work as transaction  # noqa: F401  (the name app.py and tests use)
from bcp_service.db_outage import DatabaseWait, database_wrote, is_outage
from bcp_service.locking import PROCESS_WRITER, take_write_lock
from bcp_service.ratelog import RepeatLog

log = logging.getLogger("bcp_service.group_commit")
# A fault fails every write of a batch: one line per cause per interval, not a traceback each (issue 28.4).
quiet = RepeatLog(log)
T = TypeVar("T")
R = TypeVar("R")
IDLE_SECONDS = 5.0  # an idle writer thread ends; the next request starts another
LINGER_SECONDS = 0.002
UnitOfWork = Callable[[], AbstractContextManager[Session]]
Around = Callable[[Session], AbstractContextManager[object]]


def _nothing_around(session: Session) -> AbstractContextManager[object]:
    return nullcontext()


class GroupCommit(Generic[T, R]):
    """``await writer.submit(item)``: ``apply(session, items)`` runs for a batch, returns one result per item."""

    def __init__(
        self,
        name: str,
        apply: Callable[[Session, list[T]], list[R]],
        unit_of_work: Callable[[], UnitOfWork],
        *,
        sqlite: bool,
        writes: bool = True,
        max_batch: int = 100,
        around: Around = _nothing_around,
    ) -> None:
        self.name = name
        self.apply = apply
        # Wraps ``apply`` inside the transaction (the answers' writers pass ``rounds.counters.deferred``):
        # infrastructure takes the domain's hook as an argument instead of importing the domain.
        self.around = around
        self.writes = writes
        # SQLite: the threads of one process queue on a Python lock, which wakes the next at once.
        self._serialise = PROCESS_WRITER if sqlite and writes else nullcontext()
        # Looked up for each batch, so tests can put their own rolled-back session in place.
        self.unit_of_work = unit_of_work
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[T, asyncio.Future]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.items = 0
        # While writes meet an outage, this process reports "waiting for the database" (heartbeat, board).
        self.database = DatabaseWait(f"group-commit-{name}")

    async def submit(self, item: T) -> R:
        future = asyncio.get_running_loop().create_future()
        with self._lock:
            self._queue.put((item, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"group-commit-{self.name}", daemon=True)
                self._thread.start()
        return await future

    def _run(self) -> None:
        busy = False
        while True:
            try:
                first = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            batch = [first]
            self._drain(batch)
            if busy and len(batch) < self.max_batch:
                # Under load, let the batch fill for a moment: the requests answered by the last
                # commit are sending their next writes right now. Idle, a write goes at once.
                time.sleep(LINGER_SECONDS)
                self._drain(batch)
            busy = len(batch) > 1
            self._write(batch)

    def _drain(self, batch: list) -> None:
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def _write(self, batch: list[tuple[T, asyncio.Future]]) -> None:
        try:
            results = self._transaction([item for item, _ in batch])
        except Exception as exc:
            if is_outage(exc):
                self.database.note(exc)
            if len(batch) == 1:
                quiet.warning(
                    "group_commit.item_failed",
                    cause=f"{self.name}:{type(exc).__name__}",
                    extra={"writer": self.name},
                    exc_info=exc,
                )
                _settle([(batch[0][1], None, exc)])
                return
            quiet.warning(
                "group_commit.batch_failed",
                cause=f"{self.name}:{type(exc).__name__}",
                extra={"writer": self.name, "count": len(batch)},
                exc_info=exc,
            )
            for entry in batch:
                self._write([entry])
            return
        database_wrote()
        self.batches += 1
        self.items += len(batch)
        _settle([(future, result, None) for (_, future), result in zip(batch, results, strict=True)])

    def _transaction(self, items: list[T]) -> list[R]:
        unit = self.unit_of_work()
        with self._serialise, unit() as session:
            if self.writes:
                take_write_lock(session)
            with self.around(session):
                return self.apply(session, items)


def _settle(outcomes: list[tuple[asyncio.Future, object, BaseException | None]]) -> None:
    """Hand results back to the requests' event loops: one wake-up per loop, not one per request."""
    by_loop: dict[asyncio.AbstractEventLoop, list] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].get_loop(), []).append(outcome)
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is gone (the process is stopping)
            loop.call_soon_threadsafe(_set_all, items)


def _set_all(outcomes) -> None:
    for future, result, error in outcomes:
        if future.done():  # the request was cancelled (the client went away); its write stands
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


def writer(
    app, name: str, apply: Callable[[Session, list], list], *, writes: bool = True, around: Around = _nothing_around
) -> GroupCommit:
    """The app's group commit named ``name``, made on first use (on the event loop: no race).

    ``writes=False`` batches reads the same way (many lookups in one query and one connection) in
    read-only units of work (``app.state.read_unit_of_work``): on SQLite they take no write lock.
    """
    writers: dict[str, GroupCommit] = app.state.writers
    found = writers.get(name)
    if found is None:
        state = app.state
        found = writers[name] = GroupCommit(
            name,
            apply,
            lambda: state.unit_of_work if writes else state.read_unit_of_work,
            sqlite=app.state.engine.dialect.name == "sqlite",
            writes=writes,
            around=around,
        )
    return found
