"""Pending starts are turned into rounds exactly once, even with two schedulers or a late cancellation."""

from __future__ import annotations

import threading

import pytest
from sqlmodel import func, select

from bcp_service.db import make_engine, make_session_factory
from bcp_service.models import SafetyRound, TriggerRecord
from bcp_service.triggers import store
from bcp_service.triggers.runner import run_due_trigger_starts
from bcp_service.triggers.service import read_jma_bulletin, receive_event
from tests.dbutil import wipe_database
from tests.triggers.dbsetup import CODES, records, seed_chiba
from tests.triggers.helpers import DATA, at


@pytest.fixture
def committed(engine):
    yield make_session_factory(engine)
    wipe_database(engine)


def receive(session, settings, name: str, now):
    received = read_jma_bulletin((DATA / name).read_bytes(), known=CODES, keep_raw=False)
    return receive_event(session=session, received=received, settings=settings, now=now, received_by="system:test")


def test_two_schedulers_start_a_pending_round_once(committed, database_url, settings):
    with committed() as session:
        seed_chiba(session)
        receive(session, settings, "vxse51_chiba_5lower.xml", at(10, 16, 30))
        session.commit()
    engines = [make_engine(database_url, pool_size=2) for _ in range(2)]
    barrier = threading.Barrier(2)
    started: list[list[int]] = []
    errors: list[BaseException] = []

    def run(engine) -> None:
        try:
            barrier.wait()
            started.append(run_due_trigger_starts(make_session_factory(engine), settings=settings, now=at(10, 19, 30)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for engine in engines:
        engine.dispose()
    assert errors == []
    assert sorted(len(ids) for ids in started) == [0, 1]
    with committed() as session:
        assert session.exec(select(func.count()).select_from(SafetyRound)).one() == 1
        (record,) = session.exec(select(TriggerRecord)).all()
        assert record.state == "started" and record.round_id is not None


def test_a_cancellation_racing_the_start_is_decided_again_as_too_late(session, settings, monkeypatch):
    seed_chiba(session)
    receive(session, settings, "vxse51_chiba_5lower.xml", at(10, 16, 30))
    (pending,) = records(session)
    real_load = store.load_records
    calls = []

    def load_then_lose_the_race(**kwargs):
        loaded = real_load(**kwargs)
        calls.append(len(loaded))
        if len(calls) == 1:
            # The runner claims the record right after the cancellation read it as pending.
            session.execute(
                TriggerRecord.__table__.update().where(TriggerRecord.id == pending.id).values(state="started")
            )
        return loaded

    monkeypatch.setattr(store, "load_records", load_then_lose_the_race)
    decision, _record = receive(session, settings, "vxse51_cancel.xml", at(10, 19, 31))
    assert len(calls) == 2
    assert (decision.action, decision.reason) == ("ignore", "cancel_too_late")
    assert [r.state for r in records(session)] == ["started"]
