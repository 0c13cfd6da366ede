"""Heartbeats of background processes, and the status the API reports from them.

Any component may beat (``beat(..., name="scheduler")``); the status lists every component that
ever beat plus the expected ones, so a scheduler that was never started shows as stale too. The
sender keeps its own table (``worker_heartbeat``, see bcp_service.heartbeat); it is read here as the
``worker`` component, so one call shows whether anything is running at all.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from bcp_service.clock import aware
from bcp_service.locking import take_write_lock
from bcp_service.models import ServiceHeartbeat, WorkerHeartbeat
from bcp_service.models.base import utcnow


class InstanceStatus(BaseModel):
    instance_id: str
    host: str
    process_id: int
    started_at: datetime
    beat_at: datetime
    stopped_at: datetime | None
    alive: bool
    info: dict = Field(default_factory=dict)


class ComponentStatus(BaseModel):
    name: str
    stale: bool = Field(description="no instance has beaten within heartbeat_stale_seconds: nothing is running")
    last_beat_at: datetime | None
    alive_instances: int
    instances: list[InstanceStatus]


class SystemStatus(BaseModel):
    ok: bool = Field(description="every expected component has a live instance")
    checked_at: datetime
    stale_after_seconds: float
    components: list[ComponentStatus]
    provider_unavailable_since: datetime | None = Field(
        default=None, description="a live sender has paused a lane because the provider fails every request")


EXPECTED_COMPONENTS = ("scheduler", "worker")
# Instances silent for longer than this are left out of the status (old restarts pile up otherwise).
FORGET_AFTER = timedelta(days=7)


def new_instance_id(name: str) -> str:
    return f"{name}:{socket.gethostname()[:50]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def beat(
    session_factory: Callable[[], Session], *, instance_id: str, name: str, info: dict | None = None,
    stopped: bool = False,
) -> None:
    """Record a sign of life (its own transaction; each instance writes only its own row)."""
    with session_factory() as session:
        write_beat(session, instance_id=instance_id, name=name, info=info, stopped=stopped)
        session.commit()


def write_beat(session: Session, *, instance_id: str, name: str, info: dict | None = None,
               stopped: bool = False) -> None:
    """The write of ``beat`` in the caller's transaction (``/healthz`` uses it to prove the database writes)."""
    take_write_lock(session)  # SQLite: wait for the lock before reading, not fail after
    now = utcnow()
    row = session.get(ServiceHeartbeat, instance_id)
    if row is None:
        row = ServiceHeartbeat(instance_id=instance_id, name=name[:40], host=socket.gethostname()[:100],
                               process_id=os.getpid(), started_at=now)
    row.beat_at = now
    row.stopped_at = now if stopped else None
    if info is not None:
        row.info = info
    session.add(row)
    session.flush()


def _instance(row: ServiceHeartbeat, *, now: datetime, stale_after: timedelta) -> InstanceStatus:
    alive = row.stopped_at is None and now - aware(row.beat_at) < stale_after
    return InstanceStatus(instance_id=row.instance_id, host=row.host, process_id=row.process_id,
                          started_at=row.started_at, beat_at=row.beat_at, stopped_at=row.stopped_at, alive=alive,
                          info=row.info or {})


def _worker_instances(session: Session, *, now: datetime, stale_after: timedelta) -> list[InstanceStatus]:
    rows = session.exec(
        select(WorkerHeartbeat).where(WorkerHeartbeat.beat_at >= now - FORGET_AFTER)
        .order_by(col(WorkerHeartbeat.beat_at).desc()).limit(50)
    ).all()
    return [
        InstanceStatus(instance_id=row.worker_id, host=row.hostname, process_id=row.pid, started_at=row.started_at,
                       beat_at=row.beat_at, stopped_at=row.stopped_at,
                       alive=row.stopped_at is None and now - aware(row.beat_at) < stale_after,
                       info={"sent": row.sent, "failed": row.failed})
        for row in rows
    ]


def read_system_status(*, session: Session, stale_after_seconds: float, now: datetime | None = None) -> SystemStatus:
    now = now or utcnow()
    stale_after = timedelta(seconds=stale_after_seconds)
    rows = session.exec(
        select(ServiceHeartbeat).where(ServiceHeartbeat.beat_at >= now - FORGET_AFTER)
        .order_by(col(ServiceHeartbeat.beat_at).desc()).limit(200)
    ).all()
    by_name: dict[str, list[InstanceStatus]] = {name: [] for name in EXPECTED_COMPONENTS}
    for row in rows:
        by_name.setdefault(row.name, []).append(_instance(row, now=now, stale_after=stale_after))
    by_name["worker"].extend(_worker_instances(session, now=now, stale_after=stale_after))
    components = []
    for name, instances in by_name.items():
        alive = sum(1 for i in instances if i.alive)
        last = max((aware(i.beat_at) for i in instances), default=None)
        components.append(ComponentStatus(name=name, stale=alive == 0, last_beat_at=last, alive_instances=alive,
                                          instances=instances))
    down = [datetime.fromisoformat(i.info["provider_unavailable_since"]) for i in by_name.get("sender", [])
            if i.alive and i.info.get("provider_unavailable_since")]
    return SystemStatus(ok=all(not c.stale for c in components if c.name in EXPECTED_COMPONENTS), checked_at=now,
                        stale_after_seconds=stale_after_seconds, components=components,
                        provider_unavailable_since=min(down, default=None))
