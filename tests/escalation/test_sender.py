"""The sender places a call for a voice outbox row (the TwiML URL carries the row's answer token)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from bcp_service.answer_tokens import hash_token
from bcp_service.db import make_session_factory
from bcp_service.escalation.jobs import run_escalation
from bcp_service.models import OutboxMessage
from bcp_service.models.base import utcnow
from bcp_service.outbox.worker import Worker
from notifiers import FakeNotifier
from tests.dbutil import wipe_database
from tests.escalation.conftest import add_patient, start
from tests.factories import create_municipality, create_prefecture


@pytest.fixture
def committed(engine):
    yield make_session_factory(engine)
    wipe_database(engine)


def test_a_voice_row_becomes_a_call_to_the_twiml_url(committed, settings):
    fast = settings.model_copy(
        update={"send_rate_per_second": 0, "send_idle_poll_seconds": 0.02, "webhook_base_url": "https://bcp.example.jp"}
    )
    with committed() as session:
        city = create_municipality(session, create_prefecture(session))
        add_patient(session, city)
        safety_round = start(session, fast, city, policy={"steps": [{"after_minutes": 1, "action": "call"}]})
        safety_round.started_at = utcnow() - timedelta(minutes=2)
        session.add(safety_round)
        session.commit()
    assert run_escalation(committed, settings=fast)["call"] == 1
    notifier = FakeNotifier()
    stats = asyncio.run(Worker(session_factory=committed, notifier=notifier, settings=fast).run(exit_when_idle=True))
    assert stats["sent"] == 2 and len(notifier.sent) == 1
    (call,) = notifier.calls
    assert call.twiml_url.startswith("https://bcp.example.jp/webhooks/twilio/voice/call/")
    assert call.status_callback is None  # callbacks only with the twilio notifier
    token = call.twiml_url.rsplit("/", 1)[-1]
    with committed() as session:
        voice = session.exec(select(OutboxMessage).where(OutboxMessage.channel == "voice")).one()
        assert voice.answer_token_hash == hash_token(token) and voice.answer_token is None  # cleared once placed
        assert voice.provider_message_id == call.provider_id and voice.state == "sent"
        assert voice.check_id is not None
