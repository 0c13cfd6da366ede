"""A create whose answer is lost makes one message, not two (issue 26, item 4).

The simulator accepts the create and holds its answer past the notifier's timeout (``lost_answers``):
the worker sees a timeout, and before it sends again it finds the message at the provider (listed by
recipient since the message was queued, matched by its text) and records that one.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import select

from bcp_service.models import OutboxMessage
from bcp_service.outbox.worker import Worker
from bcp_service.twilio_sim import start_sim_in_thread
from notifiers import FakeNotifier, TimedNotifier, TransientSendError, TwilioNotifier
from tests.outbox.conftest import seed_round

SENDER = "BCPTEST"
CALLER = "+815011112222"


@pytest.fixture
def sim():
    running = start_sim_in_thread()
    yield running
    running.stop()


def _lose(sim, count: int) -> None:
    answer = httpx.post(f"{sim.base_url}/_sim/faults", json={"lost_answers": count, "timeout_seconds": 2}, timeout=5)
    answer.raise_for_status()


def _notifier(sim) -> TimedNotifier:
    return TimedNotifier(
        TwilioNotifier(
            sim.account_sid, sim.auth_token, from_number=SENDER, caller_id=CALLER, base_url=sim.base_url, timeout=0.5
        )
    )


async def test_a_lost_create_answer_makes_one_message_not_two(factory, fast_settings, sim):
    settings = fast_settings.model_copy(update={"send_timeout_seconds": 0.5})
    round_id, _ = seed_round(factory, settings, patients=3)
    _lose(sim, 1)
    notifier = _notifier(sim)
    try:
        worker = Worker(session_factory=factory, notifier=notifier, settings=settings, status_callback=None)
        stats = await asyncio.wait_for(worker.run(exit_when_idle=True), 60)
    finally:
        await notifier.aclose()
    assert stats["retry"] >= 1  # the lost answer was a timeout to the worker
    with factory() as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.round_id == round_id)).all()
    sent = sim.messages()
    assert len(sent) == len(rows) == 3  # one each: the message whose answer was lost was not sent again
    assert {m.state for m in rows} == {"sent"}
    assert {m.provider_message_id for m in rows} == {m["sid"] for m in sent}


async def test_a_lost_call_answer_is_found_by_number(sim):
    sim.configure(voice_answers={"+819012340000": None})
    _lose(sim, 1)
    since = datetime.now(UTC) - timedelta(minutes=1)
    async with TwilioNotifier(
        sim.account_sid, sim.auth_token, from_number=SENDER, caller_id=CALLER, base_url=sim.base_url, timeout=0.5
    ) as notifier:
        with pytest.raises(TransientSendError, match="timeout"):
            await notifier.place_call(to="+819012340000", twiml_url="http://127.0.0.1:9/voice")
        found = await notifier.find_sent(to="+819012340000", since=since, call=True)
        (call,) = sim.calls(to="+819012340000")
        assert found is not None and found.provider_id == call["sid"]
        assert await notifier.find_sent(to="+819099990000", since=since, call=True) is None
        # Another text to the same number is not the lost one: messages match by their text.
        await notifier.send_sms(to="+819012340000", body="一通目")
        assert await notifier.find_sent(to="+819012340000", since=since, body="二通目") is None


async def test_a_failed_lookup_is_retried_not_resent(factory, fast_settings):
    """The provider cannot be asked: the message waits (a transient error), nothing is sent blind."""
    round_id, _ = seed_round(factory, fast_settings, patients=1)
    with factory() as session:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.round_id == round_id)).one()
        row.attempts = 1  # an earlier try whose answer never came
        session.add(row)
        session.commit()

    class Blind(FakeNotifier):
        async def find_sent(self, **_):
            raise TransientSendError("twilio timeout (ReadTimeout)")

    notifier = Blind()
    settings = fast_settings.model_copy(update={"send_max_attempts": 3})
    await asyncio.wait_for(
        Worker(session_factory=factory, notifier=notifier, settings=settings).run(exit_when_idle=True), 30
    )
    assert notifier.sent == []
    with factory() as session:
        assert session.exec(select(OutboxMessage.state).where(OutboxMessage.round_id == round_id)).one() == "failed"
