"""Schedule tests. Single-process firing runs in the test's rolled-back session (``borrowed``);
the tests of several schedulers commit, from their own engines, and wipe the database afterwards."""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlmodel import Session

from bcp_service.config import Settings
from bcp_service.db import make_session_factory
from bcp_service.models import RoundSchedule
from tests.dbutil import wipe_database
from tests.factories import (
    create_institution,
    create_municipality,
    create_patient,
    create_prefecture,
    create_region,
    designate,
)

_phones = itertools.count(30_000_000)


def phone() -> str:
    return f"+8170{next(_phones)}"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@contextmanager
def _borrow(session: Session):
    yield session


def borrowed(session: Session):
    """A session factory handing out the test's own session: commits release a savepoint only."""
    return lambda: _borrow(session)


@pytest.fixture
def committed(engine):
    """A session factory whose commits are real; the database is wiped after the test."""
    yield make_session_factory(engine)
    wipe_database(engine)


@pytest.fixture
def area(session):
    prefecture = create_prefecture(session)
    city = create_municipality(session, prefecture)
    town = create_municipality(session, prefecture)
    region = create_region(session, prefecture, [city])
    hub = create_institution(session, city, kind="medical_association")
    designate(session, hub, region, "hub", covers=[city])
    return SimpleNamespace(prefecture=prefecture, city=city, town=town, region=region, hub=hub)


def add_patient(session, municipality, **overrides):
    return create_patient(session, municipality, phones=[phone()], **overrides)


def add_schedule(session, *, target: dict, effective_from: datetime, **overrides) -> RoundSchedule:
    values = {
        "name": "月例訓練",
        "cron": "0 9 * * *",
        "timezone": "Asia/Tokyo",
        "target": target,
        "drill": True,
        "reason": "scheduled",
        "created_by_name": "admin",
        "created_by_role": "admin",
        "effective_from": effective_from,
        "created_at": effective_from,
        **overrides,
    }
    schedule = RoundSchedule(**values)
    session.add(schedule)
    session.flush()
    return schedule


@pytest.fixture
def tick_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"scheduler_tick_seconds": 0.1, "heartbeat_seconds": 0.1})
