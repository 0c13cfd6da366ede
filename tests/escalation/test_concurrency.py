"""Two schedulers escalating the same round at once take each step for each check exactly once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import func, select

from bcp_service.db import make_engine, make_session_factory
from bcp_service.escalation.jobs import run_escalation
from bcp_service.models import CheckEvent, OutboxMessage, SafetyRound
from bcp_service.models.base import utcnow
from tests.dbutil import wipe_database
from tests.escalation.conftest import POLICY, add_patient
from tests.factories import create_municipality, create_prefecture


@pytest.fixture
def committed(engine):
    yield make_session_factory(engine)
    wipe_database(engine)


def test_two_schedulers_share_the_work_without_doubling_a_step(committed, database_url, settings):
    from bcp_service.rounds.service import Actor, start_round
    from bcp_service.rounds.targets import RoundTarget

    with committed() as session:
        city = create_municipality(session, create_prefecture(session))
        for _ in range(60):
            add_patient(session, city, contacts=2)
        safety_round, _ = start_round(
            session=session,
            actor=Actor.system("test"),
            settings=settings,
            drill=False,
            reason="disaster",
            target=RoundTarget(municipality_ids=[city.id]),
            escalation_policy=POLICY,
        )
        safety_round.started_at = utcnow() - timedelta(minutes=31)  # resend and family are due
        session.add(safety_round)
        session.commit()
        round_id = safety_round.id
    small = settings.model_copy(update={"escalation_batch_size": 7})
    engines = [make_engine(database_url, pool_size=2) for _ in range(2)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(engine) -> None:
        try:
            barrier.wait()
            run_escalation(make_session_factory(engine), settings=small)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for engine in engines:
        engine.dispose()
    assert errors == []
    with committed() as session:
        steps = session.exec(
            select(CheckEvent.action, func.count(), func.count(func.distinct(CheckEvent.check_id)))
            .where(CheckEvent.round_id == round_id)
            .group_by(CheckEvent.action)
        ).all()
        assert sorted(steps) == [("family", 60, 60), ("resend", 60, 60)]
        queued = session.exec(
            select(OutboxMessage.template, func.count())
            .where(OutboxMessage.round_id == round_id)
            .group_by(OutboxMessage.template)
        ).all()
        assert dict(queued) == {"check_initial": 60, "check_reminder": 60, "check_family": 60}
        assert session.get(SafetyRound, round_id).state == "running"
