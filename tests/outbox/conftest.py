"""Worker tests commit (the worker opens its own sessions), so each wipes the database afterwards."""

import asyncio
import itertools

import pytest
from sqlmodel import Session

from bcp_service.config import Settings
from bcp_service.db import make_session_factory
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from notifiers import FakeNotifier
from tests.dbutil import wipe_database
from tests.factories import create_municipality, create_patient, create_prefecture

_numbers = itertools.count(20_000_000)


def number() -> str:
    return f"+8180{next(_numbers)}"


@pytest.fixture
def factory(engine):
    yield make_session_factory(engine)
    wipe_database(engine)


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "send_rate_per_second": 0,
            "send_retry_base_seconds": 0.01,
            "send_retry_max_seconds": 0.05,
            "send_idle_poll_seconds": 0.02,
            "send_concurrency": 4,
            "send_batch_size": 10,
        }
    )


def seed_round(
    factory, settings, *, patients: int = 5, phones_each: int = 1, drill: bool = False, **patient_overrides
) -> tuple[int, list[int]]:
    """Commit a municipality with patients and start a round for it; returns (round id, patient ids)."""
    with factory() as session:
        prefecture = create_prefecture(session)
        city = create_municipality(session, prefecture)
        ids = [
            create_patient(session, city, phones=[number() for _ in range(phones_each)], **patient_overrides).id
            for _ in range(patients)
        ]
        safety_round, _ = start_round(
            session=session,
            actor=Actor.system("test"),
            settings=settings,
            drill=drill,
            target=RoundTarget(municipality_ids=[city.id]),
            reason="manual",
        )
        session.commit()
        return safety_round.id, ids


class SlowNotifier(FakeNotifier):
    """A fake provider that takes its time, so a test can stop or kill a worker mid-send."""

    delay: float = 0.05

    async def send_sms(self, *, to, body, status_callback=None, validity_period=None):
        await asyncio.sleep(self.delay)
        return await super().send_sms(
            to=to, body=body, status_callback=status_callback, validity_period=validity_period
        )


def open_session(factory) -> Session:
    return factory()


async def wait_for(condition, *, timeout: float = 10.0, what: str = "condition") -> None:
    """Wait until ``condition()`` is true (polling), instead of sleeping a guessed time."""
    loop = asyncio.get_running_loop()
    ends = loop.time() + timeout
    while not condition():
        if loop.time() > ends:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
