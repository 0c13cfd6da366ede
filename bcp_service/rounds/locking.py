"""``write_unit``: lock (SQLite), work, apply the deferred counter moves and commit, in one call.

The lock itself is infrastructure (``bcp_service/locking.py``); this adds the rounds' counters.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from sqlmodel import Session

from bcp_service.locking import PROCESS_WRITER, take_write_lock
from bcp_service.rounds import counters


@contextmanager
def write_unit(session: Session) -> Iterator[Session]:
    """Lock (SQLite), work and commit on the calling thread, for the public hooks under bursts.

    The request's session normally commits in the dependency's exit, which FastAPI runs on another
    pool thread. Under a burst of webhooks every pool thread can sit waiting for SQLite's write lock
    while the holder waits for a free thread to commit on: stuck until ``busy_timeout``. Taking the
    lock and committing in one call avoids that; the dependency then finds nothing left to commit.
    """
    sqlite = session.get_bind().dialect.name == "sqlite"
    # Threads of one process queue on a Python lock, which wakes the next at once; SQLite's own
    # busy handler sleeps in growing steps and wastes most of the time under contention. A session
    # already in its transaction holds SQLite's write lock (BEGIN IMMEDIATE, db.py): it must not then
    # wait for the Python lock, whose holder may be waiting for SQLite's.
    with PROCESS_WRITER if sqlite and not session.in_transaction() else nullcontext():
        try:
            take_write_lock(session)
            with counters.deferred(session):
                yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
