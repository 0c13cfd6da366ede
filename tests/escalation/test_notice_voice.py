"""Advance-notice rounds (事前連絡) on the phone: their own call script and keypad, and a failed call's
SMS fallback in the notice wording, not the safety check's."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from sqlmodel import select

from bcp_service.models import CheckAnswer, OutboxMessage, Patient
from bcp_service.models.base import utcnow
from bcp_service.outbox.delivery import handle_failures
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from tests.escalation.conftest import POLICY, add_patient, age, check_of, escalate, phone
from tests.escalation.test_voice import BASE, signed, voice_app  # noqa: F401 (the fixture)
from tests.factories import create_patient


@pytest.fixture
def settings(settings):
    """These tests run on the real clock: no quiet hours (issue 25.4; tests/escalation/test_quiet_hours.py)."""
    return settings.model_copy(update={"notice_quiet_hours": ("00:00", "00:00")})


def start_notice(session, settings, municipality, *, drill: bool = False):
    safety_round, _ = start_round(
        session=session,
        actor=Actor.system("test"),
        settings=settings,
        drill=drill,
        reason="manual",
        target=RoundTarget(municipality_ids=[municipality.id]),
        escalation_policy=POLICY,
        kind="advance_notice",
    )
    return safety_round


@pytest.fixture
def notice_call(session, settings, area):
    """A notice round at its call step: the queued voice row, the check and the patient."""
    patient = add_patient(session, area.city)
    safety_round = start_notice(session, settings, area.city)
    age(session, safety_round, 46)
    escalate(session, settings)
    check = check_of(session, safety_round.id, patient.id)
    message = session.exec(
        select(OutboxMessage).where(OutboxMessage.check_id == check.id, OutboxMessage.channel == "voice")
    ).one()
    return safety_round, check, message, patient


def test_the_notice_call_has_its_own_script(voice_app, anon_client, notice_call):
    _, _, message, _ = notice_call
    path = f"/webhooks/twilio/voice/call/{message.answer_token}"
    root = ET.fromstring(signed(anon_client, path, {"CallSid": "CN1"}).text)
    text = root.find("Gather").find("Say").text
    assert text.startswith("こちらは千葉県です。在宅医療の事前連絡です。")
    assert "安否確認" not in text and "充電" in text and "酸素ボンベ" in text
    assert "自宅で過ごす場合は1を" in text and "入院や入所をする場合は4を" in text
    assert "移動や避難に手助けが必要な場合は6を" in text
    assert root.findall("Gather")[1].find("Say").text.startswith("もう一度お伝えします。自宅で過ごす場合は1")


@pytest.mark.parametrize(
    ("digits", "state", "plan"),
    [
        ("1", "safe", "home"),
        ("2", "safe", "shelter"),
        ("4", "safe", "hospital"),
        ("5", "needs_help", None),
        ("6", "needs_transport", None),
    ],
)
def test_a_notice_keypad_answer_records_the_plan(voice_app, anon_client, session, notice_call, digits, state, plan):
    _, check, message, patient = notice_call
    path = f"/webhooks/twilio/voice/call/{message.answer_token}/answer"
    response = signed(anon_client, path, {"CallSid": "CN2", "Digits": digits})
    root = ET.fromstring(response.text)
    assert root.find("Gather") is None  # no hours asked in a notice round
    spoken = root.find("Say").text
    assert "受け付けました" in spoken
    assert ("担当者から連絡します" in spoken) == (plan is None)
    (answer,) = session.exec(select(CheckAnswer).where(CheckAnswer.check_id == check.id)).all()
    assert (answer.state, answer.channel) == (state, "voice")
    session.expire_all()
    assert session.get(Patient, patient.id).planned_stay == plan


def test_a_notice_call_with_a_key_outside_its_menu_asks_again(voice_app, anon_client, session, notice_call):
    _, check, message, _ = notice_call
    response = signed(
        anon_client, f"/webhooks/twilio/voice/call/{message.answer_token}/answer", {"CallSid": "CN3", "Digits": "7"}
    )
    gather = ET.fromstring(response.text).find("Gather")
    assert gather is not None and gather.find("Say").text.startswith("こちらは千葉県です。1から6の番号を")
    assert session.exec(select(CheckAnswer).where(CheckAnswer.check_id == check.id)).all() == []


def test_a_notice_round_past_its_end_says_so(voice_app, anon_client, session, notice_call):
    safety_round, _, message, _ = notice_call
    safety_round.expires_at = utcnow() - timedelta(minutes=1)
    session.add(safety_round)
    session.commit()
    response = signed(anon_client, f"/webhooks/twilio/voice/call/{message.answer_token}", {"CallSid": "CN4"})
    assert "この事前連絡は終了しました" in response.text and "<Gather" not in response.text


def test_a_failed_call_falls_back_to_the_notice_sms(session, settings, area):
    """Landline first (a call), then the family mobile: the SMS it gets is the notice text."""
    patient = create_patient(session, area.city, phones=[phone("+813"), phone("+8190")])
    safety_round = start_notice(session, settings, area.city)
    (call,) = session.exec(select(OutboxMessage).where(OutboxMessage.round_id == safety_round.id)).all()
    assert call.channel == "voice" and call.template is None
    handle_failures(session, [(call.id, True, "21211")], now=utcnow())
    rows = session.exec(
        select(OutboxMessage).where(OutboxMessage.round_id == safety_round.id, OutboxMessage.id != call.id)
    ).all()
    assert [(r.channel, r.template) for r in rows] == [("sms", "notice_initial")]
    assert patient.id is not None


def test_a_failed_safety_check_call_still_falls_back_to_the_check_sms(session, settings, area):
    create_patient(session, area.city, phones=[phone("+813"), phone("+8190")])
    safety_round, _ = start_round(
        session=session,
        actor=Actor.system("test"),
        settings=settings,
        drill=False,
        reason="disaster",
        target=RoundTarget(municipality_ids=[area.city.id]),
    )
    (call,) = session.exec(select(OutboxMessage).where(OutboxMessage.round_id == safety_round.id)).all()
    handle_failures(session, [(call.id, True, "21211")], now=utcnow())
    rows = session.exec(
        select(OutboxMessage).where(OutboxMessage.round_id == safety_round.id, OutboxMessage.id != call.id)
    ).all()
    assert [(r.channel, r.template) for r in rows] == [("sms", "check_initial")]
