"""E-mail end to end, as in the demo: a family reached only by e-mail gets the family step as a mail in the
demo's mail sink (its own process, as the demo starts it), answers through the mail's link, and the answer
reaches the round's board; a family address that bounces is marked and shown as such on the mail page."""

import asyncio
import re
import subprocess
from datetime import timedelta

import httpx
from sqlmodel import select

from bcp_service.channels.email import demo as email_demo
from bcp_service.channels.email.settings import email_settings
from bcp_service.escalation.jobs import run_escalation
from bcp_service.models import ContactAddress, OutboxMessage, SafetyCheck, SafetyRound
from bcp_service.models.base import utcnow
from bcp_service.outbox.worker import Worker
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from tests.e2e.conftest import bulk_patients, free_port
from tests.factories import bearer, create_user

LINK = re.compile(r"https?://\S+/a/[\w-]+")


async def send_all(stack):
    notifier = stack.notifier()
    try:
        worker = Worker(session_factory=stack.factory, notifier=notifier, settings=stack.settings)
        return await asyncio.wait_for(worker.run(exit_when_idle=True), timeout=120)
    finally:
        await notifier.aclose()


async def test_a_family_reached_only_by_email_answers_through_the_mail_link(engine, stack, monkeypatch):
    municipality_id = bulk_patients(engine, 3, second_contact_every=1)
    reached, bounced = email_demo.add_email_families(engine, municipality_code="472018", count=2)
    smtp_port, page_port = free_port(), free_port()
    sink = email_demo.start_sink(
        smtp_port,
        page_port,
        lambda command: subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    )
    email_demo.wait_for_sink(page_port, sink)
    monkeypatch.setenv("BCP_SMTP_HOST", "127.0.0.1")
    for key, value in email_demo.env(0).items():
        if key != "BCP_SMTP_PORT":
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("BCP_SMTP_PORT", str(smtp_port))
    email_settings.cache_clear()
    page = f"http://127.0.0.1:{page_port}/_mail"
    try:
        # Nobody answers an SMS by its link or a call: the family step follows, and only the mail's link answers.
        stack.sim.configure(answer_rate=0, default_voice_digits=None)
        with stack.factory() as session:
            safety_round, _ = start_round(
                session=session,
                actor=Actor.system("e2e"),
                settings=stack.settings,
                drill=True,
                reason="disaster",
                target=RoundTarget(municipality_ids=[municipality_id]),
                escalation_policy={"steps": [{"after_minutes": 30, "action": "family"}]},
            )
            session.commit()
            round_id = safety_round.id
        await send_all(stack)  # the first messages: SMS to each patient's own phone
        with stack.factory() as session:
            started = session.get(SafetyRound, round_id)
            started.started_at = utcnow() - timedelta(minutes=31)
            session.add(started)
            session.commit()
        assert run_escalation(stack.factory, settings=stack.settings)["family"] == 3
        await send_all(stack)

        with stack.factory() as session:
            family_mail = session.exec(
                select(OutboxMessage).where(OutboxMessage.round_id == round_id, OutboxMessage.channel == "email")
            ).all()
            assert {m.to_number for m in family_mail} == {
                f"family1-{reached}@demo.example",
                f"family1-{bounced}@bounce.invalid",
            }
            refused = session.exec(
                select(ContactAddress).where(
                    ContactAddress.kind == "email", ContactAddress.address.like("%bounce.invalid")
                )
            ).one()
            assert refused.refused_since is not None  # the bounce marked the address
        received = httpx.get(
            f"http://127.0.0.1:{page_port}/_mail/messages", params={"to": f"family1-{reached}@demo.example"}
        ).json()
        assert len(received) == 1 and received[0]["subject"] == "【訓練】【千葉県】安否確認のお願い"
        assert "ご家族・支援者の方へ" in received[0]["body"]
        link = LINK.search(received[0]["body"]).group(0)
        assert link.startswith(stack.app_url)

        assert httpx.get(link).status_code == 200  # the answer page of the link, as the family opens it
        answered = httpx.post(link, data={"state": "safe", "nonce": "email-e2e"})
        assert answered.status_code == 200

        with stack.factory() as session:
            check = session.exec(
                select(SafetyCheck).where(SafetyCheck.round_id == round_id, SafetyCheck.patient_id == reached)
            ).one()
            assert (check.state, check.last_channel) == ("safe", "link")
            headers = bearer(session, create_user(session, "admin"))
            session.commit()
        summary = httpx.get(f"{stack.app_url}/api/v1/rounds/{round_id}/summary", headers=headers).json()
        assert summary["by_state"].get("safe") == 1

        html = httpx.get(page).text
        assert f"family1-{reached}@demo.example" in html and "回答する" in html
        assert f"family1-{bounced}@bounce.invalid" in html and "不達" in html
    finally:
        sink.terminate()
        sink.wait(10)
        email_settings.cache_clear()
