"""ValidityPeriod is what is left of a message's validity, on each try (issue 26.5)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlmodel import select

from bcp_service.models import OutboxMessage
from bcp_service.models.base import utcnow
from bcp_service.outbox.worker import Worker
from notifiers import FakeNotifier, TwilioNotifier
from tests.outbox.conftest import seed_round


async def test_a_message_queued_an_hour_ago_gets_the_hours_left(factory, fast_settings):
    settings = fast_settings.model_copy(update={"send_validity_seconds": 4 * 3600})
    round_id, _ = seed_round(factory, settings, patients=1)
    with factory() as session:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.round_id == round_id)).one()
        row.created_at = utcnow() - timedelta(hours=1)
        session.add(row)
        session.commit()
    notifier = FakeNotifier()
    await asyncio.wait_for(
        Worker(session_factory=factory, notifier=notifier, settings=settings).run(exit_when_idle=True), 30
    )
    (sent,) = notifier.sent
    assert 3 * 3600 - 60 <= sent.validity_period <= 3 * 3600


async def test_the_notifier_sends_the_smaller_of_what_is_left_and_its_own_period():
    forms = []

    def handler(request: httpx.Request) -> httpx.Response:
        forms.append(dict(httpx.QueryParams(request.content.decode())))
        sid = "SM" + "1" * 32 if "Messages" in request.url.path else "CA" + "1" * 32
        return httpx.Response(201, json={"sid": sid, "status": "queued"})

    notifier = TwilioNotifier(
        "AC" + "1" * 32,
        "token",
        from_number="CHIBA",
        caller_id="+815011112222",
        validity_period=14400,
        transport=httpx.MockTransport(handler),
    )
    await notifier.send_sms(to="+819012345678", body="x", validity_period=600)
    await notifier.send_sms(to="+819012345678", body="x", validity_period=99999)
    await notifier.send_sms(to="+819012345678", body="x")
    await notifier.place_call(
        to="+819012345678",
        twiml_url="https://bcp.example.jp/webhooks/twilio/voice/call/t",
        fallback_url="https://bcp.example.jp/webhooks/twilio/voice/fallback/t",
    )
    await notifier.aclose()
    assert [f.get("ValidityPeriod") for f in forms[:3]] == ["600", "14400", "14400"]
    assert forms[3]["FallbackUrl"] == "https://bcp.example.jp/webhooks/twilio/voice/fallback/t"
