"""Escalation end to end: the app on a thread, the Twilio simulator on another, the worker in the test.

Each step goes out through the real sender and the simulator: the resend and the family message
as SMS, the call as a Calls.json request whose TwiML the simulator fetches from the app and whose
keypad Gather it answers, signed. Everything commits; the database is wiped afterwards.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlmodel import select

from bcp_service.app import create_app
from bcp_service.db import make_session_factory
from bcp_service.escalation.jobs import run_escalation
from bcp_service.models import CheckAnswer, CheckEvent, OutboxMessage, PatientContact, SafetyCheck, SafetyRound
from bcp_service.models.base import utcnow
from bcp_service.outbox.notifier import build_notifier
from bcp_service.outbox.worker import Worker
from bcp_service.rounds.counters import read_counters, recount
from bcp_service.rounds.service import Actor, close_round, start_round
from bcp_service.rounds.targets import RoundTarget
from bcp_service.twilio_sim import SimConfig, ThreadedServer, start_sim_in_thread
from tests.dbutil import wipe_database
from tests.escalation.conftest import POLICY, phone
from tests.factories import bearer, create_municipality, create_patient, create_prefecture, create_user

SENDER_ID = "BCPTEST"  # SMS to Japan: an alphanumeric sender ID (docs/deployment-twilio-japan.md)
CALLER_ID = "+815011112222"  # calls: a 050 number


class Stack:
    def __init__(self, engine, settings) -> None:
        self.app = create_app(settings, engine)
        self.server = ThreadedServer(self.app)
        self.sim = start_sim_in_thread(SimConfig(seed=5, callback_statuses=["sent", "delivered"], answer_delay_ms=0))
        self.settings = settings.model_copy(
            update={
                "public_base_url": self.server.base_url,
                "webhook_base_url": self.server.base_url,
                "notifier": "twilio",
                "twilio_account_sid": self.sim.account_sid,
                "twilio_auth_token": SecretStr(self.sim.auth_token),
                "twilio_sms_sender": SENDER_ID,
                "twilio_voice_caller_id": CALLER_ID,
                "twilio_base_url": self.sim.base_url,
                "send_rate_per_second": 0,
                "send_idle_poll_seconds": 0.05,
                "send_retry_base_seconds": 0.05,
            }
        )
        self.app.state.settings = self.settings
        self.factory = make_session_factory(engine)
        self.server.start()

    def stop(self) -> None:
        self.sim.stop()
        self.server.stop()

    def send(self) -> dict:
        async def run():
            notifier = build_notifier(self.settings)  # the notifier the worker command builds
            try:
                worker = Worker(session_factory=self.factory, notifier=notifier, settings=self.settings)
                return await asyncio.wait_for(worker.run(exit_when_idle=True), timeout=60)
            finally:
                await notifier.aclose()

        stats = asyncio.run(run())
        assert self.sim.flush_callbacks(timeout=20) == 0
        return stats

    def escalate_at(self, round_id: int, minutes: float):
        with self.factory() as session:
            safety_round = session.get(SafetyRound, round_id)
            safety_round.started_at = utcnow() - timedelta(minutes=minutes)
            session.add(safety_round)
            session.commit()
        return run_escalation(self.factory, settings=self.settings)


@pytest.fixture
def stack(engine, settings):
    running = Stack(engine, settings)
    try:
        yield running
    finally:
        running.stop()
        wipe_database(engine)


def seed(stack, *, drill: bool = False):
    """Two patients, each with their own mobile and a family mobile; a round with the test policy."""
    with stack.factory() as session:
        city = create_municipality(session, create_prefecture(session))
        answering = create_patient(session, city, phones=[phone("+8170"), phone("+8180")])
        silent = create_patient(
            session, city, phones=[phone("+8170"), phone("+8180")], uses_ventilator=True, ventilator_mode="invasive"
        )
        safety_round, _ = start_round(
            session=session,
            actor=Actor.system("test"),
            settings=stack.settings,
            drill=drill,
            reason="disaster",
            target=RoundTarget(municipality_ids=[city.id]),
            escalation_policy=POLICY,
        )
        admin = create_user(session, "admin")
        headers = bearer(session, admin)
        session.commit()
        return safety_round.id, answering.id, silent.id, headers


def contacts_of(stack, patient_id: int) -> list[str]:
    with stack.factory() as session:
        return list(
            session.exec(
                select(PatientContact.phone)
                .where(PatientContact.patient_id == patient_id)
                .order_by(PatientContact.position)
            ).all()
        )


def texts_to(stack, number: str) -> list[str]:
    return [m["body"] for m in stack.sim.messages(to=number)]


def check(stack, round_id: int, patient_id: int) -> SafetyCheck:
    with stack.factory() as session:
        return session.exec(
            select(SafetyCheck).where(SafetyCheck.round_id == round_id, SafetyCheck.patient_id == patient_id)
        ).one()


def test_every_escalation_step_through_the_simulator(stack):
    round_id, answering, silent, headers = seed(stack)
    own, family = contacts_of(stack, answering)
    silent_own, silent_family = contacts_of(stack, silent)
    stack.sim.configure(voice_answers={own: "2", silent_own: None}, default_voice_digits=None)
    assert stack.send()["sent"] == 2

    # 15 minutes: the message again, to the patient's own phone.
    assert stack.escalate_at(round_id, 16)["resend"] == 2
    assert stack.send()["sent"] == 2
    (reminder,) = [t for t in texts_to(stack, own) if "【再送】" in t]
    assert len(texts_to(stack, own)) == 2 and f"{stack.server.base_url}/a/" in reminder

    # 30 minutes: the family.
    assert stack.escalate_at(round_id, 31)["family"] == 2
    assert stack.send()["sent"] == 2
    (to_family,) = texts_to(stack, family)
    assert "ご家族・支援者の方へ" in to_family and len(texts_to(stack, silent_family)) == 1

    # 45 minutes: a call; the simulator fetches the TwiML and presses 2 for one, nobody answers the other.
    assert stack.escalate_at(round_id, 46)["call"] == 2
    assert stack.send()["sent"] == 2
    calls = {c["to"]: c for c in stack.sim.calls()}
    assert calls[own]["digits_sent"] == "2" and calls[own]["gather_http_status"] == 200
    # Every call names a FallbackUrl that speaks Japanese (issue 26.2) and statuses naming the row.
    assert "/webhooks/twilio/voice/fallback/" in calls[own]["fallback_url"]
    assert "?outbox=" in calls[own]["status_callback"]
    assert calls[silent_own]["status"] == "no-answer"
    answered = check(stack, round_id, answering)
    assert (answered.state, answered.last_channel) == ("needs_help", "voice")
    with stack.factory() as session:
        (answer,) = session.exec(select(CheckAnswer).where(CheckAnswer.check_id == answered.id)).all()
        assert answer.channel == "voice" and answer.idempotency_key == f"voice:{calls[own]['sid']}"
        call_row = session.exec(
            select(OutboxMessage).where(OutboxMessage.check_id == answered.id, OutboxMessage.channel == "voice")
        ).one()
        assert call_row.provider_message_id == calls[own]["sid"] and call_row.state == "delivered"

    # 60 minutes: the one who never answered is unreachable and waits for a nurse.
    assert +stack.escalate_at(round_id, 61) == {"unreachable": 1}
    assert check(stack, round_id, silent).state == "unreachable"
    assert check(stack, round_id, answering).state == "needs_help"  # the answer stopped its escalation
    silent_check_id = check(
        stack, round_id, silent
    ).id  # not inside the session below: on SQLite each holds the write lock
    with stack.factory() as session:
        assert read_counters(session=session, round_id=round_id) == recount(session=session, round_id=round_id)
        actions = session.exec(
            select(CheckEvent.action).where(CheckEvent.check_id == silent_check_id).order_by(CheckEvent.id)
        ).all()
        # A critical patient unreachable pages the station and hub (none has an on-call number here: test_oncall.py).
        assert actions == ["resend", "family", "call", "unreachable", "page"]
    queue = httpx.get(f"{stack.server.base_url}/api/v1/rounds/{round_id}/follow-up", headers=headers).json()
    assert [item["patient_id"] for item in queue["items"]] == [silent]


def test_closing_the_round_stops_escalation(stack):
    round_id, _answering, _silent, _headers = seed(stack, drill=True)
    stack.send()
    stack.escalate_at(round_id, 16)
    with stack.factory() as session:
        close_round(session=session, round_id=round_id, actor=Actor.system("test"))
        session.commit()
    assert stack.send().get("sent", 0) == 0  # the queued resends were cancelled
    assert sum(stack.escalate_at(round_id, 90).values()) == 0
    assert stack.send().get("sent", 0) == 0
    assert len(stack.sim.messages()) == 2 and stack.sim.calls() == []
    with stack.factory() as session:
        states = set(
            session.exec(
                select(OutboxMessage.state).where(
                    OutboxMessage.round_id == round_id, OutboxMessage.template == "check_reminder"
                )
            ).all()
        )
    assert states == {"cancelled"}


def test_a_family_member_calls_back_the_050_number_and_is_recorded(stack):
    """Issue 26, item 3: the simulator rings the service's incoming-call URL from the family's number,
    plays the menu, presses 3 (power out), then "#" alone on the hours question (unknown)."""
    round_id, answering, silent, _ = seed(stack)
    stack.sim.configure(voice_webhook_url=f"{stack.server.base_url}/webhooks/twilio/voice/incoming")
    family = contacts_of(stack, silent)[1]
    call = stack.sim.inbound_call(from_=family, to=CALLER_ID, digits="3,#")
    assert call["presses"] == ["3", ""] and call["gather_http_status"] == 200
    heard = [s["text"] for s in call["transcript"]]
    assert heard[0].startswith("こちらは千葉県です。在宅医療の安否確認です。")
    assert any("あと何時間" in text for text in heard) and "残り時間は不明" in heard[-1]
    with stack.factory() as session:
        answers = session.exec(
            select(CheckAnswer)
            .join(SafetyCheck, SafetyCheck.id == CheckAnswer.check_id)
            .where(SafetyCheck.patient_id == silent)
            .order_by(CheckAnswer.id)
        ).all()
        assert [(a.state, a.channel, a.answered_by, a.hours_unknown) for a in answers] == [
            ("power_out", "voice", "family", False),
            ("power_out", "voice", "family", True),
        ]
    # A stranger hears who we are and hangs up; nothing is recorded.
    stranger = stack.sim.inbound_call(from_="+819011119999", to=CALLER_ID, digits="1")
    assert stranger["presses"] == [] and "安否確認の電話番号" in stranger["said"][0]["text"]
    with stack.factory() as session:
        assert len(session.exec(select(CheckAnswer)).all()) == 2
    assert check(stack, round_id, answering).state == "no_answer"
