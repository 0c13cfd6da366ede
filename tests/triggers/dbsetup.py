"""Database fixtures for the trigger API tests: Chiba municipalities with patients, a fake clock."""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from datetime import datetime

import pytest
from sqlmodel import Session, select

from bcp_service.models import SafetyCheck, SafetyRound, TriggerDecision, TriggerRecord
from bcp_service.triggers.areas import CHIBA_MUNICIPALITIES
from bcp_service.triggers.runner import run_due_trigger_starts
from tests.factories import create_municipality, create_patient, create_prefecture
from tests.triggers.helpers import (
    CHIBA,
    CHOSHI,
    DATA,
    FUNABASHI,
    ICHIKAWA,
    INZAI,
    MATSUDO,
    NARASHINO,
    NARITA,
    PATIENTS,
    TATEYAMA,
)

_phones = itertools.count(40_000_000)
CODES = (CHIBA, CHOSHI, ICHIKAWA, FUNABASHI, TATEYAMA, MATSUDO, NARITA, NARASHINO, INZAI)


class Clock:
    def __init__(self) -> None:
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        assert self.now is not None, "set clock.now first"
        return self.now


def seed_chiba(session: Session) -> dict[str, object]:
    """The fixtures' municipalities, one patient in each of PATIENTS (松戸市 has none)."""
    prefecture = create_prefecture(session, code="12", name="千葉県")
    municipalities = {
        code: create_municipality(session, prefecture, code=code, name=CHIBA_MUNICIPALITIES[code]) for code in CODES
    }
    for code in sorted(PATIENTS):
        create_patient(session, municipalities[code], phones=[f"+8160{next(_phones)}"])
    return municipalities


@pytest.fixture
def chiba(session):
    return seed_chiba(session)


@pytest.fixture
def clock(app) -> Clock:
    fake = Clock()
    app.state.clock = fake
    return fake


@pytest.fixture
def system(client_as):
    return client_as("system")


def post_bulletin(client, name: str, clock: Clock | None = None, at: datetime | None = None):
    if clock is not None and at is not None:
        clock.now = at
    return client.post(
        "/api/v1/triggers",
        content=(DATA / name).read_bytes(),
        headers={"Content-Type": "application/xml; charset=utf-8"},
    )


@contextmanager
def _borrow(session: Session):
    yield session


def run_starts(session: Session, settings, now: datetime) -> list[int]:
    """The scheduler's trigger job, in the test's session (its commits release a savepoint)."""
    session.commit()
    return run_due_trigger_starts(lambda: _borrow(session), settings=settings, now=now)


def records(session: Session, event_id: str | None = None) -> list[TriggerRecord]:
    query = select(TriggerRecord).order_by(TriggerRecord.id)
    if event_id:
        query = query.where(TriggerRecord.event_id == event_id)
    return list(session.exec(query.execution_options(populate_existing=True)).all())


def rounds(session: Session) -> list[SafetyRound]:
    return list(session.exec(select(SafetyRound).order_by(SafetyRound.id)).all())


def round_municipality_codes(session: Session, round_id: int, municipalities: dict) -> set[str]:
    by_id = {m.id: code for code, m in municipalities.items()}
    ids = session.exec(select(SafetyCheck.municipality_id).where(SafetyCheck.round_id == round_id)).all()
    return {by_id[i] for i in ids}


def decisions(session: Session) -> list[TriggerDecision]:
    return list(session.exec(select(TriggerDecision).order_by(TriggerDecision.id)).all())
