"""Sender settings for Twilio in Japan: refused at start with the combination that works."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bcp_service.config import Settings

ACCOUNT = "AC" + "1" * 32
JAPAN = {
    "notifier": "twilio",
    "twilio_account_sid": ACCOUNT,
    "twilio_auth_token": "real-token",
    "twilio_sms_sender": "KANAGAWA",
    "twilio_voice_caller_id": "+815011112222",
    "sms_replies": False,
    "sender_name": "神奈川県",
    "voice_name": "Polly.Mizuki",
}


def settings(**changes) -> Settings:
    return Settings(**{**JAPAN, **changes})


def test_the_documented_japan_setup_is_accepted():
    senders = settings().senders
    assert (senders.sms_from, senders.messaging_service_sid, senders.caller_id) == ("KANAGAWA", None, "+815011112222")
    service = settings(twilio_sms_sender=None, twilio_messaging_service_sid="MG" + "a" * 32).senders
    assert service.messaging_service_sid == "MG" + "a" * 32 and service.caller_id == "+815011112222"
    settings(voice_name="Google.ja-JP-Wavenet-B")
    settings(voice_name="Polly.Takumi-Neural")


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        # The old single sender with a 050 number: every SMS would be refused.
        (
            {"twilio_sms_sender": None, "twilio_voice_caller_id": None, "twilio_from_number": "+815011112222"},
            "no SMS-capable Japanese numbers",
        ),
        # A Messaging Service alone: every call would fail.
        (
            {
                "twilio_sms_sender": None,
                "twilio_voice_caller_id": None,
                "twilio_messaging_service_sid": "MG" + "a" * 32,
            },
            "calls need BCP_TWILIO_VOICE_CALLER_ID",
        ),
        ({"twilio_voice_caller_id": "KANAGAWA"}, "must be a phone number"),
        ({"sms_replies": True}, "nobody can reply to an alphanumeric sender ID"),
        ({"twilio_sms_sender": "KANAGAWA-PREF-HOME"}, "1-11 letters"),
        ({"twilio_messaging_service_sid": "MG" + "a" * 32}, "exactly one SMS sender"),
        ({"twilio_sms_sender": None}, "exactly one SMS sender"),
        ({"twilio_account_sid": "ACsimulator"}, "not an account SID"),
        # Issue 26.5: a foreign caller ID is a number people in Japan do not pick up nor call back.
        ({"twilio_voice_caller_id": "+14155550100"}, "must be a Japanese number"),
        (
            {"twilio_sms_sender": None, "twilio_voice_caller_id": None, "twilio_from_number": "+14155550100"},
            "must be a Japanese number",
        ),
    ],
)
def test_a_combination_that_cannot_work_is_refused_saying_what_works(changes, says):
    with pytest.raises(ValidationError) as refused:
        settings(**changes)
    message = str(refused.value)
    assert says in message
    assert "What works: for Japan set BCP_TWILIO_SMS_SENDER" in message and "BCP_TWILIO_VOICE_CALLER_ID" in message


def test_a_non_japanese_voice_is_refused_whatever_the_notifier():
    with pytest.raises(ValidationError, match="not a Japanese voice"):
        Settings(voice_name="Polly.Joanna")
    with pytest.raises(ValidationError, match="sender_name"):
        Settings(sender_name="鹿児島県在宅医療連携推進協議会")


def test_the_legacy_number_still_serves_sms_beside_a_japanese_caller_id():
    legacy = settings(twilio_sms_sender=None, twilio_from_number="+14155550100").senders
    assert (legacy.sms_from, legacy.caller_id) == ("+14155550100", "+815011112222")


def test_the_hubs_number_must_be_japanese():
    assert settings(hub_phone="+81432234567").hub_phone == "+81432234567"
    with pytest.raises(ValidationError, match="BCP_HUB_PHONE"):
        settings(hub_phone="+14155550100")


def test_production_texts_name_their_sender():
    """Issue 26.5: 【在宅医療】 names nobody; a production deployment names the prefecture or hub."""
    production = {**JAPAN, "environment": "production", "secret_key": "a-real-secret-key-0123456789"}
    assert Settings(**production).sender_name == "神奈川県"
    for changes in ({"sender_name": "在宅医療"}, {}):
        values = {**production, **changes}
        if not changes:
            values.pop("sender_name")
        with pytest.raises(ValidationError, match="BCP_SENDER_NAME must name who sends"):
            Settings(**values)
    assert Settings().sender_name == "千葉県"  # the demo's region, outside production
