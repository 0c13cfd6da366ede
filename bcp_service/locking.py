"""SQLite write transactions that wait their turn instead of failing.

SQLite starts transactions deferred: one that reads first and writes later cannot wait for the
write lock (its snapshot may be stale) and fails at once with "database is locked" when another
writer is busy. Taking the lock with a no-op write as the first statement makes it wait for
``busy_timeout`` like any writer. PostgreSQL needs none of this; there it does nothing.

Infrastructure (docs/architecture.md): imports nothing of the domains. ``rounds.locking.write_unit``
adds the counters' deferral on top for the public hooks.
"""

from __future__ import annotations

import threading

from sqlalchemy import text
from sqlmodel import Session

PROCESS_WRITER = threading.Lock()


def take_write_lock(session: Session) -> None:
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE service_heartbeat SET process_id = process_id WHERE 0"))
