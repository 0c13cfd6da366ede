"""The voice webhooks: TwiML in Japanese with a keypad Gather, the keypad answer, call statuses."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from pydantic import SecretStr
from sqlmodel import select
from twilio.request_validator import RequestValidator

from bcp_service.models import CheckAnswer, OutboxMessage
from tests.escalation.conftest import add_patient, age, check_of, escalate, start

TOKEN = "simulator-auth-token"
BASE = "https://bcp.example.jp"


@pytest.fixture
def voice_app(app, settings):
    app.state.settings = settings.model_copy(update={"twilio_auth_token": SecretStr(TOKEN), "webhook_base_url": BASE})
    return app


def signed(client, path: str, params: dict, *, token: str = TOKEN):
    signature = RequestValidator(token).compute_signature(BASE + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


@pytest.fixture
def call(session, settings, area):
    """A round at its call step: the queued voice row and the check."""
    patient = add_patient(session, area.city)
    safety_round = start(session, settings, area.city, drill=True)
    age(session, safety_round, 46)
    escalate(session, settings)
    check = check_of(session, safety_round.id, patient.id)
    message = session.exec(
        select(OutboxMessage).where(OutboxMessage.check_id == check.id, OutboxMessage.channel == "voice")
    ).one()
    return safety_round, check, message


def test_the_call_asks_in_japanese_with_a_keypad_gather(voice_app, anon_client, call):
    _, _, message = call
    path = f"/webhooks/twilio/voice/call/{message.answer_token}"
    response = signed(anon_client, path, {"CallSid": "CA1", "CallStatus": "in-progress"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.text)
    gather = root.find("Gather")
    assert gather.get("numDigits") == "1" and gather.get("action") == f"{BASE}{path}/answer"
    say = gather.find("Say")
    assert (say.get("language"), say.get("voice")) == ("ja-JP", "Polly.Mizuki")  # a named Japanese voice
    assert say.text.startswith("こちらは千葉県です。これは訓練です。")  # the sender first
    assert "無事な場合は1" in say.text and "搬送や避難の手助けが必要な場合は4" in say.text
    # No digit pressed: the Gather times out, the menu is asked once more, then the closing words.
    gathers = root.findall("Gather")
    assert len(gathers) == 2 and gathers[1].find("Say").text.startswith("もう一度お伝えします。")
    assert gathers[1].get("action") == gather.get("action")
    assert [child.tag for child in root] == ["Gather", "Gather", "Say", "Hangup"]
    assert all(s.get("voice") == "Polly.Mizuki" for s in root.iter("Say"))


def test_the_voice_and_sender_come_from_the_settings(voice_app, anon_client, call):
    _, _, message = call
    voice_app.state.settings = voice_app.state.settings.model_copy(
        update={"voice_name": "Google.ja-JP-Wavenet-B", "sender_name": "神奈川県"}
    )
    path = f"/webhooks/twilio/voice/call/{message.answer_token}"
    root = ET.fromstring(signed(anon_client, path, {"CallSid": "CA1"}).text)
    say = root.find("Gather").find("Say")
    assert say.get("voice") == "Google.ja-JP-Wavenet-B" and say.text.startswith("こちらは神奈川県です。")


def test_unsigned_or_wrongly_signed_requests_are_refused(voice_app, anon_client, call):
    _, _, message = call
    path = f"/webhooks/twilio/voice/call/{message.answer_token}"
    assert anon_client.post(path, data={"CallSid": "CA1"}).status_code == 403
    assert signed(anon_client, path, {"CallSid": "CA1"}, token="wrong").status_code == 403
    assert signed(anon_client, path + "/answer", {"CallSid": "CA1", "Digits": "1"}, token="wrong").status_code == 403
    assert signed(anon_client, "/webhooks/twilio/voice/status", {"CallSid": "CA1"}, token="wrong").status_code == 403


@pytest.mark.parametrize(
    ("digits", "state"),
    [
        ("1", "safe"),
        ("2", "needs_help"),
        ("3", "power_out"),
        ("4", "needs_transport"),
        ("5", "admitted"),
        ("6", "evacuated"),
    ],
)
def test_a_keypad_answer_is_recorded_once_per_call(voice_app, anon_client, session, call, digits, state):
    _, check, message = call
    path = f"/webhooks/twilio/voice/call/{message.answer_token}/answer"
    first = signed(anon_client, path, {"CallSid": "CA77", "Digits": digits})
    assert first.status_code == 200 and "受け付けました" in first.text
    again = signed(anon_client, path, {"CallSid": "CA77", "Digits": digits})
    assert again.status_code == 200
    (answer,) = session.exec(select(CheckAnswer).where(CheckAnswer.check_id == check.id)).all()
    assert (answer.state, answer.channel, answer.answered_by, answer.idempotency_key) == (
        state,
        "voice",
        "self",
        "voice:CA77",
    )
    session.refresh(check)
    assert check.state == state and check.last_channel == "voice"


@pytest.mark.parametrize(("keys", "hours", "unknown"), [("3#", 3.0, False), ("12", 12.0, False), ("#", None, True)])
def test_after_a_call_for_help_a_second_gather_asks_for_hours(
    voice_app, anon_client, session, call, keys, hours, unknown
):
    _, check, message = call
    path = f"/webhooks/twilio/voice/call/{message.answer_token}"
    first = signed(anon_client, path + "/answer", {"CallSid": "CA9", "Digits": "3"})
    gather = ET.fromstring(first.text).find("Gather")
    assert gather.get("action") == f"{BASE}{path}/hours" and gather.get("finishOnKey") == "#"
    assert "何時間" in gather.find("Say").text
    second = signed(anon_client, path + "/hours", {"CallSid": "CA9", "Digits": keys})
    assert second.status_code == 200 and "受け付けました" in second.text
    signed(anon_client, path + "/hours", {"CallSid": "CA9", "Digits": keys})  # Twilio retried: once
    answers = session.exec(select(CheckAnswer).where(CheckAnswer.check_id == check.id).order_by(CheckAnswer.id)).all()
    assert [(a.state, a.hours_left, a.hours_unknown) for a in answers] == [
        ("power_out", None, False),
        ("power_out", hours, unknown),
    ]
    session.refresh(check)
    assert (check.state, check.hours_left, check.hours_unknown, check.power) == ("power_out", hours, unknown, "out")


def test_a_safe_answer_asks_nothing_more(voice_app, anon_client, call):
    _, _, message = call
    response = signed(
        anon_client, f"/webhooks/twilio/voice/call/{message.answer_token}/answer", {"CallSid": "CA10", "Digits": "1"}
    )
    assert ET.fromstring(response.text).find("Gather") is None


def test_another_key_asks_again(voice_app, anon_client, session, call):
    _, check, message = call
    response = signed(
        anon_client, f"/webhooks/twilio/voice/call/{message.answer_token}/answer", {"CallSid": "CA8", "Digits": "9"}
    )
    assert ET.fromstring(response.text).find("Gather") is not None
    assert session.exec(select(CheckAnswer).where(CheckAnswer.check_id == check.id)).all() == []


def test_a_closed_round_says_so_and_records_nothing(voice_app, anon_client, client, session, call):
    safety_round, check, message = call
    token = message.answer_token
    client.post(f"/api/v1/rounds/{safety_round.id}/close")
    response = signed(anon_client, f"/webhooks/twilio/voice/call/{token}", {"CallSid": "CA9"})
    assert "終了しました" in response.text and "<Gather" not in response.text
    signed(anon_client, f"/webhooks/twilio/voice/call/{token}/answer", {"CallSid": "CA9", "Digits": "1"})
    assert session.exec(select(CheckAnswer).where(CheckAnswer.check_id == check.id)).all() == []
    unknown = signed(anon_client, "/webhooks/twilio/voice/call/not-a-token", {"CallSid": "CA9"})
    assert unknown.status_code == 200 and "<Hangup/>" in unknown.text


def test_call_statuses_land_on_the_outbox_row(voice_app, anon_client, session, call):
    _, _, message = call
    message.state, message.provider_message_id = "sent", "CA500"
    session.add(message)
    session.flush()
    assert (
        signed(
            anon_client, "/webhooks/twilio/voice/status", {"CallSid": "CA500", "CallStatus": "completed"}
        ).status_code
        == 204
    )
    session.refresh(message)
    assert message.state == "delivered"
    signed(anon_client, "/webhooks/twilio/voice/status", {"CallSid": "CA500", "CallStatus": "ringing"})
    session.refresh(message)
    assert message.state == "delivered"  # a late status never goes back
