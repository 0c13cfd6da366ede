"""Worker heartbeats: people can see that sending is happening, and SQLite keeps to one worker."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from bcp_service.locking import take_write_lock
from bcp_service.models import WorkerHeartbeat
from bcp_service.models.base import utcnow

STALE_AFTER = timedelta(seconds=30)


class WorkerAlreadyRunning(RuntimeError):
    pass


def start(session_factory: Callable[[], Session], worker_id: str) -> None:
    with session_factory() as session:
        take_write_lock(session)
        if session.get_bind().dialect.name == "sqlite":
            # SQLite has no row locks to share claims safely between processes: one worker only.
            others = session.exec(
                select(WorkerHeartbeat).where(
                    col(WorkerHeartbeat.stopped_at).is_(None), WorkerHeartbeat.beat_at > utcnow() - STALE_AFTER,
                    WorkerHeartbeat.worker_id != worker_id,
                )
            ).all()
            alive = [other.worker_id for other in others if not _known_dead(other)]
            if alive:
                raise WorkerAlreadyRunning(
                    f"another worker ({alive[0]}) is running on this SQLite database; use PostgreSQL for several"
                )
        now = utcnow()
        row = session.get(WorkerHeartbeat, worker_id) or WorkerHeartbeat(
            worker_id=worker_id, hostname=socket.gethostname()[:100], pid=os.getpid())
        row.started_at, row.beat_at, row.stopped_at = now, now, None
        session.add(row)
        session.commit()


def _known_dead(other: WorkerHeartbeat) -> bool:
    """A worker on this machine whose process is gone (or is this process, restarting) holds nothing."""
    if other.hostname != socket.gethostname()[:100]:
        return False
    if other.pid == os.getpid():
        return True
    try:
        os.kill(other.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def beat(session_factory: Callable[[], Session], worker_id: str, *, sent: int, failed: int, stopped: bool = False) -> None:
    with session_factory() as session:
        now = utcnow()
        session.execute(
            update(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == worker_id)
            .values(beat_at=now, sent=sent, failed=failed, stopped_at=now if stopped else None)
        )
        session.commit()


def list_workers(*, session: Session) -> list[dict]:
    rows = session.exec(select(WorkerHeartbeat).order_by(col(WorkerHeartbeat.beat_at).desc()).limit(50)).all()
    now = utcnow()
    result = []
    for row in rows:
        beat_at = row.beat_at if row.beat_at.tzinfo else row.beat_at.replace(tzinfo=now.tzinfo)
        alive = row.stopped_at is None and now - beat_at < STALE_AFTER
        result.append({"worker_id": row.worker_id, "hostname": row.hostname, "pid": row.pid, "alive": alive,
                       "started_at": row.started_at, "beat_at": row.beat_at, "stopped_at": row.stopped_at,
                       "sent": row.sent, "failed": row.failed})
    return result
