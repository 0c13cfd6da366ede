"""Escalation tests. The job runs in the test's own session (``borrowed``); the tests with several
processes, the worker or the simulator commit and wipe the database afterwards."""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlmodel import Session, select

from bcp_service.escalation.jobs import run_escalation
from bcp_service.models import CheckEvent, OutboxMessage, SafetyCheck, SafetyRound
from bcp_service.models.base import utcnow
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from tests.factories import (
    create_institution,
    create_municipality,
    create_patient,
    create_prefecture,
    create_region,
    designate,
)

_phones = itertools.count(50_000_000)
POLICY = {
    "steps": [
        {"after_minutes": 15, "action": "resend"},
        {"after_minutes": 30, "action": "family"},
        {"after_minutes": 45, "action": "call"},
        {"after_minutes": 60, "action": "unreachable"},
    ]
}


def phone(prefix: str = "+8190") -> str:
    return f"{prefix}{next(_phones)}"


@contextmanager
def _borrow(session: Session):
    yield session


def borrowed(session: Session):
    return lambda: _borrow(session)


@pytest.fixture
def area(session):
    prefecture = create_prefecture(session)
    city = create_municipality(session, prefecture)
    region = create_region(session, prefecture, [city])
    hub = create_institution(session, city, kind="medical_association")
    designate(session, hub, region, "hub", covers=[city])
    station = create_institution(session, city, kind="visiting_nurse_station")
    return SimpleNamespace(prefecture=prefecture, city=city, region=region, hub=hub, station=station)


def add_patient(session, municipality, *, contacts: int = 1, **overrides):
    return create_patient(session, municipality, phones=[phone() for _ in range(contacts)], **overrides)


def start(session, settings, municipality, *, drill: bool = False, policy: dict | None = POLICY) -> SafetyRound:
    safety_round, _ = start_round(
        session=session,
        actor=Actor.system("test"),
        settings=settings,
        drill=drill,
        reason="disaster",
        target=RoundTarget(municipality_ids=[municipality.id]),
        escalation_policy=policy,
    )
    return safety_round


def age(session, safety_round: SafetyRound, minutes: float) -> None:
    """Pretend the round started ``minutes`` ago (the job compares with the real clock)."""
    safety_round.started_at = utcnow() - timedelta(minutes=minutes)
    session.add(safety_round)
    session.flush()


def escalate(session, settings):
    session.commit()  # keep the setup if a batch rolls back (it only releases a savepoint)
    return run_escalation(borrowed(session), settings=settings)


def events(session, check_id: int) -> list[CheckEvent]:
    return list(session.exec(select(CheckEvent).where(CheckEvent.check_id == check_id).order_by(CheckEvent.id)).all())


def messages(session, check_id: int) -> list[OutboxMessage]:
    return list(
        session.exec(select(OutboxMessage).where(OutboxMessage.check_id == check_id).order_by(OutboxMessage.id)).all()
    )


def check_of(session, round_id: int, patient_id: int) -> SafetyCheck:
    return session.exec(
        select(SafetyCheck)
        .where(SafetyCheck.round_id == round_id, SafetyCheck.patient_id == patient_id)
        .execution_options(populate_existing=True)
    ).one()
