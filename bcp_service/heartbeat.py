"""Heartbeats: every process's sign of life in one table, and the status read from them.

Each process instance (worker, scheduler, feed poller, API) writes its own row in
``service_heartbeat`` (``beat``); the board, ``GET /api/v1/system/status``, ``GET
/api/v1/outbox/status`` and ``bcp-service heartbeat check NAME`` read them. While one of the
process's loops waits for the database (``bcp_service.db_outage``), its beats carry
``database_waiting_since``; a beat that cannot be written leaves the row stale, and the board says
the component is stopped *or waiting for the database*. SQLite keeps to one worker
(``start_worker``): it has no row locks to share claims safely between processes.

Infrastructure (docs/architecture.md): imports only ``models``, ``locking``, ``clock``, ``db_outage`` and ``webhook_doors``.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from bcp_service import db_outage, lanes, webhook_doors
from bcp_service.clock import aware
from bcp_service.locking import take_write_lock
from bcp_service.models import ServiceHeartbeat
from bcp_service.models.base import utcnow

EXPECTED_COMPONENTS = ("scheduler", "worker")
# Instances silent for longer than this are left out of the status (old restarts pile up otherwise).
FORGET_AFTER = timedelta(days=7)
# SQLite: a worker row silent this long is no longer running (one worker per SQLite database).
WORKER_STALE_AFTER = timedelta(seconds=30)


class WorkerAlreadyRunning(RuntimeError):
    pass


class InstanceStatus(BaseModel):
    instance_id: str
    host: str
    process_id: int
    started_at: datetime
    beat_at: datetime
    stopped_at: datetime | None
    alive: bool
    waiting_for_database_since: datetime | None = Field(
        default=None, description="one of its loops waits for the database (it resumes by itself)"
    )
    info: dict = Field(default_factory=dict)


class ComponentStatus(BaseModel):
    name: str
    stale: bool = Field(
        description="no instance has beaten within heartbeat_stale_seconds: stopped, or waiting "
        "for the database and unable to record its beat"
    )
    last_beat_at: datetime | None
    alive_instances: int
    waiting_for_database_since: datetime | None = Field(
        default=None, description="a live instance reports waiting for the database since then"
    )
    instances: list[InstanceStatus]


class LaneStatus(BaseModel):
    lane: str = Field(description="sms or voice")
    lane_label: str = Field(description="the lane in Japanese")
    reason: str = Field(description="the notifier's neutral reason: auth, account_inactive, geo_permission, ...")
    code: str | None = Field(default=None, description="the provider's error code")
    cause: str = Field(description="the cause in Japanese, as the banner shows it")
    paused_at: datetime


class SystemStatus(BaseModel):
    ok: bool = Field(description="every expected component has a live instance")
    checked_at: datetime
    stale_after_seconds: float
    components: list[ComponentStatus]
    provider_unavailable_since: datetime | None = Field(
        default=None, description="a live sender has paused a lane because the provider fails every request"
    )
    database_unwritable_since: datetime | None = Field(
        default=None,
        description="this API process cannot write to the database since then (what it accepts "
        "meanwhile is journaled and applied when the database is back)",
    )
    lanes_paused: list[LaneStatus] = Field(
        default_factory=list,
        description="lanes paused because the provider refuses the account or sender: their "
        "messages wait (none is failed) until a probe or an admin resumes",
    )
    journal_unwritable_since: datetime | None = Field(
        default=None, description="this API process's webhook journal (its first location) refuses lines since then"
    )
    webhooks_refused: int = Field(
        default=0,
        description="webhooks this API process answered 503 because neither the database nor a journal "
        "location could keep them (Twilio retries them as the URL's #rc=/#rp= ask)",
    )
    webhooks_refused_last_at: datetime | None = None
    throttled_messages: int = Field(
        default=0,
        description="messages waiting because the provider answered 429 (filled by the pages that show it: ops.status)",
    )


def new_instance_id(name: str) -> str:
    return f"{name}:{socket.gethostname()[:50]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def beat(
    session_factory: Callable[[], Session],
    *,
    instance_id: str,
    name: str,
    info: dict | None = None,
    stopped: bool = False,
) -> None:
    """Record a sign of life (its own transaction; each instance writes only its own row)."""
    with session_factory() as session:
        write_beat(session, instance_id=instance_id, name=name, info=info, stopped=stopped)
        session.commit()


def write_beat(
    session: Session, *, instance_id: str, name: str, info: dict | None = None, stopped: bool = False
) -> None:
    """The write of ``beat`` in the caller's transaction (``/healthz`` uses it to prove the database writes)."""
    take_write_lock(session)  # SQLite: wait for the lock before reading, not fail after
    now = utcnow()
    row = session.get(ServiceHeartbeat, instance_id)
    if row is None:
        row = ServiceHeartbeat(
            instance_id=instance_id,
            name=name[:40],
            host=socket.gethostname()[:100],
            process_id=os.getpid(),
            started_at=now,
        )
    row.beat_at = now
    row.stopped_at = now if stopped else None
    report = dict(row.info or {}) if info is None else dict(info)
    since = db_outage.waiting_since()
    report["database_waiting_since"] = since.isoformat() if since else None
    if db_outage.last_wait_seconds() is not None:
        report["database_waited_seconds"] = db_outage.last_wait_seconds()
    row.info = report
    session.add(row)
    session.flush()


def start_worker(session_factory: Callable[[], Session], instance_id: str, *, info: dict | None = None) -> None:
    """A worker's first beat; on SQLite, refused while another live worker beats (one worker only)."""
    with session_factory() as session:
        take_write_lock(session)
        if session.get_bind().dialect.name == "sqlite":
            others = session.exec(
                select(ServiceHeartbeat).where(
                    ServiceHeartbeat.name == "worker",
                    col(ServiceHeartbeat.stopped_at).is_(None),
                    ServiceHeartbeat.beat_at > utcnow() - WORKER_STALE_AFTER,
                    ServiceHeartbeat.instance_id != instance_id,
                )
            ).all()
            alive = [other.instance_id for other in others if not _known_dead(other)]
            if alive:
                raise WorkerAlreadyRunning(
                    f"another worker ({alive[0]}) is running on this SQLite database; use PostgreSQL for several"
                )
        row = session.get(ServiceHeartbeat, instance_id)
        if row is not None:
            row.started_at = utcnow()
        write_beat(session, instance_id=instance_id, name="worker", info=info or {})
        session.commit()


def _known_dead(other: ServiceHeartbeat) -> bool:
    """A worker on this machine whose process is gone (or is this process, restarting) holds nothing."""
    if other.host != socket.gethostname()[:100]:
        return False
    if other.process_id == os.getpid():
        return True
    try:
        os.kill(other.process_id, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _since(info: dict, key: str) -> datetime | None:
    value = info.get(key)
    return aware(datetime.fromisoformat(value)) if value else None


def _instance(row: ServiceHeartbeat, *, now: datetime, stale_after: timedelta) -> InstanceStatus:
    alive = row.stopped_at is None and now - aware(row.beat_at) < stale_after
    info = row.info or {}
    return InstanceStatus(
        instance_id=row.instance_id,
        host=row.host,
        process_id=row.process_id,
        started_at=row.started_at,
        beat_at=row.beat_at,
        stopped_at=row.stopped_at,
        alive=alive,
        waiting_for_database_since=_since(info, "database_waiting_since") if alive else None,
        info=info,
    )


def list_workers(*, session: Session, stale_after_seconds: float = WORKER_STALE_AFTER.total_seconds()) -> list[dict]:
    """The workers' rows as ``GET /api/v1/outbox/status`` shows them (is anything sending?)."""
    rows = session.exec(
        select(ServiceHeartbeat)
        .where(ServiceHeartbeat.name == "worker")
        .order_by(col(ServiceHeartbeat.beat_at).desc())
        .limit(50)
    ).all()
    now = utcnow()
    result = []
    for row in rows:
        status = _instance(row, now=now, stale_after=timedelta(seconds=stale_after_seconds))
        result.append(
            {
                "worker_id": row.instance_id,
                "hostname": row.host,
                "pid": row.process_id,
                "alive": status.alive,
                "started_at": row.started_at,
                "beat_at": row.beat_at,
                "stopped_at": row.stopped_at,
                "sent": status.info.get("sent", 0),
                "failed": status.info.get("failed", 0),
                "waiting_for_database_since": status.waiting_for_database_since,
            }
        )
    return result


def read_system_status(*, session: Session, stale_after_seconds: float, now: datetime | None = None) -> SystemStatus:
    now = now or utcnow()
    stale_after = timedelta(seconds=stale_after_seconds)
    rows = session.exec(
        select(ServiceHeartbeat)
        .where(ServiceHeartbeat.beat_at >= now - FORGET_AFTER)
        .order_by(col(ServiceHeartbeat.beat_at).desc())
        .limit(200)
    ).all()
    by_name: dict[str, list[InstanceStatus]] = {name: [] for name in EXPECTED_COMPONENTS}
    for row in rows:
        by_name.setdefault(row.name, []).append(_instance(row, now=now, stale_after=stale_after))
    components = []
    for name, instances in by_name.items():
        alive = sum(1 for i in instances if i.alive)
        last = max((aware(i.beat_at) for i in instances), default=None)
        waiting = min((i.waiting_for_database_since for i in instances if i.waiting_for_database_since), default=None)
        components.append(
            ComponentStatus(
                name=name,
                stale=alive == 0,
                last_beat_at=last,
                alive_instances=alive,
                waiting_for_database_since=waiting,
                instances=instances,
            )
        )
    down = [
        since
        for i in by_name["worker"]
        if i.alive and (since := _since(i.info, "provider_unavailable_since")) is not None
    ]
    return SystemStatus(
        ok=all(not c.stale for c in components if c.name in EXPECTED_COMPONENTS),
        checked_at=now,
        stale_after_seconds=stale_after_seconds,
        components=components,
        provider_unavailable_since=min(down, default=None),
        database_unwritable_since=db_outage.waiting_since(),
        journal_unwritable_since=webhook_doors.journal_unwritable_since(),
        webhooks_refused=webhook_doors.refused_count(),
        webhooks_refused_last_at=webhook_doors.last_refused_at(),
        lanes_paused=[
            LaneStatus(
                lane=p.lane, lane_label=p.lane_label, reason=p.reason, code=p.code, cause=p.cause, paused_at=p.paused_at
            )
            for p in lanes.list_pauses(session=session)
        ],
    )
