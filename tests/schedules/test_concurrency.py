"""Several schedulers at once (separate engines, real commits): each fire time fires once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlmodel import func, select

from bcp_service.db import make_engine, make_session_factory
from bcp_service.heartbeat import read_system_status
from bcp_service.models import SafetyRound, ScheduleFiring, ServiceHeartbeat
from bcp_service.models.base import utcnow
from bcp_service.schedules.firing import fire_due_schedules
from bcp_service.schedules.process import SchedulerProcess
from tests.factories import create_municipality, create_prefecture
from tests.schedules.conftest import add_patient, add_schedule, utc

ROOT = Path(__file__).resolve().parents[2]


def seed(factory, *, schedules: int, **overrides) -> list[int]:
    with factory() as session:
        city = create_municipality(session, create_prefecture(session))
        for _ in range(3):
            add_patient(session, city)
        ids = [
            add_schedule(session, target={"municipality_ids": [city.id]}, name=f"訓練{n}", **overrides).id
            for n in range(schedules)
        ]
        session.commit()
        return ids


def counts(factory) -> tuple[int, int]:
    with factory() as session:
        firings = session.exec(select(func.count()).select_from(ScheduleFiring)).one()
        rounds = session.exec(select(func.count()).select_from(SafetyRound)).one()
        return firings, rounds


def test_two_schedulers_racing_on_the_same_fire_times_start_each_round_once(committed, database_url, settings):
    ids = seed(committed, schedules=5, effective_from=utc(2025, 3, 1))
    engines = [make_engine(database_url, pool_size=2) for _ in range(2)]
    barrier = threading.Barrier(2)
    written: dict[str, list] = {}
    errors: list[BaseException] = []

    def run(name: str, engine) -> None:
        try:
            barrier.wait()
            written[name] = fire_due_schedules(
                make_session_factory(engine), settings=settings, instance_id=name, now=utc(2025, 3, 2, 0, 0, 2)
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"scheduler-{n}", e)) for n, e in enumerate(engines)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for engine in engines:
        engine.dispose()
    assert errors == []
    assert counts(committed) == (5, 5)
    won = sorted(f.schedule_id for fs in written.values() for f in fs)
    assert won == sorted(ids)  # every fire time was written by exactly one of the two
    with committed() as session:
        keys = session.exec(select(SafetyRound.idempotency_key)).all()
    assert sorted(keys) == sorted(f"schedule:{i}:2025-03-02T00:00:00+00:00" for i in ids)


def test_two_apscheduler_processes_fire_a_due_schedule_once_and_both_beat(committed, database_url, tick_settings):
    now = utcnow()
    # An interval schedule whose first fire time was 30 seconds ago, within the grace period.
    seed(
        committed,
        schedules=1,
        effective_from=now - timedelta(minutes=5),
        cron=None,
        interval_minutes=60,
        starts_at=now - timedelta(seconds=30),
    )
    engines = [make_engine(database_url, pool_size=3) for _ in range(2)]
    processes = [
        SchedulerProcess(
            session_factory=make_session_factory(e), settings=tick_settings, instance_id=f"scheduler:test:{n}"
        )
        for n, e in enumerate(engines)
    ]
    try:
        for process in processes:
            process.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(p.runs["schedules"] >= 3 for p in processes):
            time.sleep(0.05)
    finally:
        for process in processes:
            process.stop()
        for engine in engines:
            engine.dispose()
    assert all(p.runs["schedules"] >= 3 for p in processes)
    assert counts(committed) == (1, 1)
    with committed() as session:
        beats = session.exec(select(ServiceHeartbeat).where(ServiceHeartbeat.name == "scheduler")).all()
        assert sorted(b.instance_id for b in beats) == ["scheduler:test:0", "scheduler:test:1"]
        assert all(b.stopped_at is not None for b in beats)
        status = read_system_status(session=session, stale_after_seconds=30)
    scheduler = next(c for c in status.components if c.name == "scheduler")
    assert scheduler.stale is True and scheduler.alive_instances == 0  # both stopped: visibly not running


def test_two_scheduler_commands_started_together_fire_once(committed, database_url):
    now = utcnow()
    seed(
        committed,
        schedules=1,
        effective_from=now - timedelta(minutes=5),
        cron=None,
        interval_minutes=60,
        starts_at=now - timedelta(seconds=20),
    )
    env = {**os.environ, "BCP_DATABASE_URL": database_url, "BCP_ENVIRONMENT": "test", "BCP_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-c", "from bcp_service.cli import main; main()", "scheduler", "--once"]
    runs = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert counts(committed) == (1, 1)
