"""The scheduler process (``bcp-service scheduler``, and a thread of ``bcp-service demo``).

APScheduler runs a few interval jobs; each reads the database for what is due, so schedules
edited through the API are seen at the next tick, and what happened while no scheduler ran is
found from the firing table (misfire policy), not from APScheduler's memory. Every job is safe
to run in several processes at once (see firing.py, triggers/runner.py, escalation/), runs in
its own sessions, and a failing job is logged without stopping the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from sqlmodel import Session

from bcp_service import heartbeat
from bcp_service.config import Settings
from bcp_service.db_outage import DatabaseWait, is_outage
from bcp_service.escalation.jobs import run_escalation
from bcp_service.models.base import utcnow
from bcp_service.registry.region_changes import apply_due_changes
from bcp_service.schedules.firing import fire_due_schedules
from bcp_service.triggers.runner import run_due_trigger_starts

log = logging.getLogger("bcp_service.scheduler")
Job = Callable[[datetime], object]


class SchedulerProcess:
    def __init__(
        self,
        *,
        session_factory: Callable[[], Session],
        settings: Settings,
        instance_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        extra_jobs: dict[str, Job] | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.instance_id = instance_id or heartbeat.new_instance_id("scheduler")
        self.clock = clock
        self.jobs: dict[str, Job] = {
            "schedules": lambda now: fire_due_schedules(
                session_factory, settings=settings, instance_id=self.instance_id, now=now
            ),
            "trigger_starts": lambda now: run_due_trigger_starts(session_factory, settings=settings, now=now),
            "escalation": lambda now: run_escalation(session_factory, settings=settings, now=now),
            # Region redraws whose effective date has come (registry/region_changes.py, issue 27.1).
            "region_changes": lambda now: apply_due_changes(session_factory, now=now),
            **(extra_jobs or {}),
        }
        self.runs: dict[str, int] = dict.fromkeys(self.jobs, 0)
        # A job that meets a database outage is tried again at the next tick; meanwhile the process's
        # beats say "waiting for the database" (logged once per outage, not at every tick).
        self.waits = {name: DatabaseWait(f"scheduler-{name}") for name in self.jobs}
        self._scheduler: BackgroundScheduler | None = None

    def run_job(self, name: str) -> None:
        try:
            self.jobs[name](self.clock())
            self.runs[name] += 1
        except Exception as exc:
            if is_outage(exc):
                self.waits[name].note(exc, worker_id=self.instance_id)
            else:
                log.exception("scheduler.job_failed", extra={"job": name, "instance_id": self.instance_id})
            return
        self.waits[name].succeeded()

    def run_once(self) -> None:
        """Every job once, in order (``bcp-service scheduler --once``, e.g. from cron, and tests)."""
        for name in self.jobs:
            self.run_job(name)
        self.beat()

    def beat(self, *, stopped: bool = False) -> None:
        try:
            heartbeat.beat(
                self.session_factory,
                instance_id=self.instance_id,
                name="scheduler",
                info={"jobs": sorted(self.jobs), "runs": dict(self.runs)},
                stopped=stopped,
            )
        except Exception:
            log.warning("scheduler.heartbeat_failed", extra={"instance_id": self.instance_id}, exc_info=True)

    def start(self) -> None:
        scheduler = BackgroundScheduler(
            timezone="UTC",
            # Coalesce and never queue: each job looks at the database anyway, so a late tick
            # simply does the work of the ticks it replaced.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        first = utcnow()
        for name in self.jobs:
            scheduler.add_job(
                self.run_job,
                "interval",
                args=[name],
                id=name,
                next_run_time=first,
                seconds=self.settings.scheduler_tick_seconds,
            )
        scheduler.add_job(
            self.beat, "interval", id="heartbeat", next_run_time=first, seconds=self.settings.heartbeat_seconds
        )
        scheduler.start()
        self._scheduler = scheduler
        log.info(
            "scheduler.started",
            extra={
                "instance_id": self.instance_id,
                "jobs": sorted(self.jobs),
                "tick_seconds": self.settings.scheduler_tick_seconds,
            },
        )

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        self.beat(stopped=True)
        log.info("scheduler.stopped", extra={"instance_id": self.instance_id, "runs": dict(self.runs)})
