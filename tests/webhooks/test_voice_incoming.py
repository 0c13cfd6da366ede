"""Calls back to the 050 number (issue 26, item 3): a known patient's or family member's number hears
its open check's menu and the keypad answer is recorded; a stranger hears the hub's number."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from pydantic import SecretStr
from sqlmodel import select

from bcp_service.models import CheckAnswer, PatientContact, SafetyCheck
from tests.escalation.conftest import add_patient, start
from tests.webhooks.conftest import BASE, post_signed

INCOMING = "/webhooks/twilio/voice/incoming"


@pytest.fixture
def voice_app(app, settings):
    app.state.settings = settings.model_copy(
        update={
            "twilio_auth_token": SecretStr("simulator-auth-token"),
            "webhook_base_url": BASE,
            "sender_name": "千葉県",
            "hub_phone": "+81432234567",
        }
    )
    return app


def _root(response):
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    return ET.fromstring(response.text)


def test_a_family_member_calling_back_hears_the_menu_and_is_recorded(voice_app, anon_client, session, area):
    patient = add_patient(session, area.city, contacts=2)
    safety_round = start(session, voice_app.state.settings, area.city, drill=True)
    family = session.exec(
        select(PatientContact).where(PatientContact.patient_id == patient.id, PatientContact.kind == "family")
    ).one()
    call = {"CallSid": "CAin1", "From": family.phone, "To": "+81501234567", "Direction": "inbound"}
    root = _root(post_signed(anon_client, INCOMING, call))
    gather = root.find("Gather")
    assert gather.get("action") == f"{BASE}{INCOMING}/answer"
    assert gather.find("Say").text.startswith("こちらは千葉県です。これは訓練です。")
    answered = _root(post_signed(anon_client, INCOMING + "/answer", {**call, "Digits": "1"}))
    assert "受け付けました" in answered.find("Say").text
    check = session.exec(
        select(SafetyCheck).where(SafetyCheck.round_id == safety_round.id, SafetyCheck.patient_id == patient.id)
    ).one()
    answers = session.exec(select(CheckAnswer).where(CheckAnswer.check_id == check.id)).all()
    assert [(a.state, a.channel, a.answered_by, a.contact_id) for a in answers] == [
        ("safe", "voice", "family", family.id)
    ]
    # Twilio posting the same press again records nothing more.
    post_signed(anon_client, INCOMING + "/answer", {**call, "Digits": "1"})
    assert len(session.exec(select(CheckAnswer).where(CheckAnswer.check_id == check.id)).all()) == 1


def test_a_call_for_help_then_asks_for_hours_by_the_callers_number(voice_app, anon_client, session, area):
    patient = add_patient(session, area.city)
    start(session, voice_app.state.settings, area.city, drill=False)
    own = session.exec(select(PatientContact).where(PatientContact.patient_id == patient.id)).one()
    call = {"CallSid": "CAin2", "From": own.phone}
    hours = _root(post_signed(anon_client, INCOMING + "/answer", {**call, "Digits": "3"})).find("Gather")
    assert hours.get("action") == f"{BASE}{INCOMING}/hours" and hours.get("actionOnEmptyResult") == "true"
    done = _root(post_signed(anon_client, INCOMING + "/hours", {**call, "Digits": ""}))  # "#" alone
    assert "残り時間は不明" in done.find("Say").text
    answers = session.exec(select(CheckAnswer).where(CheckAnswer.contact_id == own.id).order_by(CheckAnswer.id)).all()
    assert [(a.state, a.hours_unknown) for a in answers] == [("power_out", False), ("power_out", True)]


@pytest.mark.parametrize("caller", ["+819099999999", "anonymous", ""])
def test_a_stranger_hears_the_hubs_number(voice_app, anon_client, session, area, caller):
    add_patient(session, area.city)
    start(session, voice_app.state.settings, area.city, drill=False)
    root = _root(post_signed(anon_client, INCOMING, {"CallSid": "CAin3", "From": caller}))
    assert root.find("Gather") is None and root.find("Hangup") is not None
    said = root.find("Say").text
    assert said.startswith("こちらは千葉県の安否確認の電話番号です。") and "043-223-4567" in said
    assert session.exec(select(CheckAnswer)).all() == []
    # A press posted anyway (a forged action with a stranger's number) records nothing.
    _root(post_signed(anon_client, INCOMING + "/answer", {"CallSid": "CAin3", "From": caller, "Digits": "1"}))
    assert session.exec(select(CheckAnswer)).all() == []


def test_unsigned_calls_back_are_refused(voice_app, anon_client):
    assert anon_client.post(INCOMING, data={"CallSid": "CA1", "From": "+819012345678"}).status_code == 403
    assert anon_client.post(INCOMING + "/answer", data={"CallSid": "CA1", "Digits": "1"}).status_code == 403
