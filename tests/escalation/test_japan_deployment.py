"""End to end as deployed in Japan (docs/deployment-twilio-japan.md), against the Twilio simulator.

The settings come from the environment variables the document lists: SMS from an alphanumeric
sender ID with replies off, calls from a 050 caller ID in a named Japanese voice. A mobile patient
gets a Japanese SMS naming the sender; a landline-only patient is called first (an SMS would be
refused with 21614) and answers by keypad.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from bcp_service.config import Settings
from bcp_service.models import CheckAnswer, OutboxMessage, Patient, PatientContact
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from tests.escalation.conftest import POLICY, phone
from tests.escalation.test_simulator import Stack, check, stack  # noqa: F401 (the fixture)
from tests.factories import create_municipality, create_patient, create_prefecture, refused_channels

DOCUMENTED = {  # docs/deployment-twilio-japan.md, "Settings"
    "BCP_NOTIFIER": "twilio",
    "BCP_TWILIO_SMS_SENDER": "KANAGAWA",
    "BCP_TWILIO_VOICE_CALLER_ID": "+815011112222",
    "BCP_SMS_REPLIES": "false",
    "BCP_SENDER_NAME": "神奈川県",
    "BCP_VOICE_NAME": "Polly.Mizuki",
}


@pytest.fixture
def japan(stack: Stack, monkeypatch):
    for name, value in {
        **DOCUMENTED,
        "BCP_TWILIO_ACCOUNT_SID": stack.sim.account_sid,
        "BCP_TWILIO_AUTH_TOKEN": stack.sim.auth_token,
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings(  # validated as at start: a combination that cannot work would raise here
        database_url=stack.settings.database_url,
        public_base_url=stack.server.base_url,
        webhook_base_url=stack.server.base_url,
        twilio_base_url=stack.sim.base_url,
        send_rate_per_second=0,
        send_idle_poll_seconds=0.05,
        send_retry_base_seconds=0.05,
        escalation_steps=POLICY["steps"],
    )
    stack.settings = settings
    stack.app.state.settings = settings
    return stack


def test_sms_from_the_sender_id_and_a_keypad_call_to_the_landline_only_patient(japan: Stack):
    mobile, landline = phone("+8190"), phone("+813")
    with japan.factory() as session:
        city = create_municipality(session, create_prefecture(session))
        texted = create_patient(session, city, phones=[mobile])
        called = create_patient(session, city, phones=[landline], uses_ventilator=True, ventilator_mode="invasive")
        safety_round, _ = start_round(
            session=session,
            actor=Actor.system("test"),
            settings=japan.settings,
            drill=False,
            reason="disaster",
            target=RoundTarget(municipality_ids=[city.id]),
        )
        session.commit()
        round_id = safety_round.id
    japan.sim.configure(voice_answers={landline: "1"})
    assert japan.send()["sent"] == 2  # through build_notifier(settings), as the worker command does

    (sms,) = japan.sim.messages(to=mobile)
    assert sms["from"] == "KANAGAWA" and sms["messaging_service_sid"] is None
    assert sms["body"].startswith("【神奈川県】安否確認の回答は\n") and f"{japan.server.base_url}/a/" in sms["body"]
    assert "返信" not in sms["body"] and "お電話します" in sms["body"]  # no reply can reach a sender ID
    assert sms["encoding"] == "UCS-2" and sms["num_segments"] <= 2

    assert japan.sim.messages(to=landline) == []  # never texted: the landline's first channel is a call
    (call,) = japan.sim.calls(to=landline)
    assert call["from"] == "+815011112222" and call["status"] == "completed" and call["digits_sent"] == "1"
    assert call["said"][0]["voice"] == "Polly.Mizuki" and call["said"][0]["language"] == "ja-JP"
    assert call["said"][0]["text"].startswith("こちらは神奈川県です。在宅医療の安否確認です。")
    answered = check(japan, round_id, called.id)
    assert (answered.state, answered.last_channel) == ("safe", "voice")
    with japan.factory() as session:
        (answer,) = session.exec(select(CheckAnswer).where(CheckAnswer.check_id == answered.id)).all()
        assert answer.idempotency_key == f"voice:{call['sid']}"
        (row,) = session.exec(select(OutboxMessage).where(OutboxMessage.check_id == answered.id)).all()
        assert (row.channel, row.provider_message_id, row.state) == ("voice", call["sid"], "delivered")
    assert check(japan, round_id, texted.id).state == "no_answer"


def test_a_number_that_refuses_sms_is_called_and_stays_usable_for_calls(japan: Stack):
    number = phone("+8190")  # the register thinks it is a mobile; the carrier says landline (21614)
    with japan.factory() as session:
        city = create_municipality(session, create_prefecture(session))
        patient = create_patient(session, city, phones=[number])
        safety_round, _ = start_round(
            session=session,
            actor=Actor.system("test"),
            settings=japan.settings,
            drill=False,
            reason="disaster",
            target=RoundTarget(municipality_ids=[city.id]),
        )
        session.commit()
        round_id = safety_round.id
    japan.sim.configure(landline_numbers={number}, voice_answers={number: "3"})
    japan.send()
    japan.send()  # the failover row, if the first run ended before it was queued
    assert japan.sim.messages(to=number) == [] and japan.sim.stats()["rejected_invalid"] == 1
    (call,) = japan.sim.calls(to=number)
    assert call["digits_sent"] == "3"
    answered = check(japan, round_id, patient.id)
    assert (answered.state, answered.last_channel) == ("power_out", "voice")
    with japan.factory() as session:
        contact = session.exec(select(PatientContact).where(PatientContact.patient_id == patient.id)).one()
        assert refused_channels(session, contact.id) == {"sms"} and contact.bad_since is None


def test_an_advance_notice_calls_the_landline_with_its_own_script(japan: Stack):
    landline = phone("+813")
    with japan.factory() as session:
        city = create_municipality(session, create_prefecture(session))
        called = create_patient(session, city, phones=[landline], uses_ventilator=True, ventilator_mode="invasive")
        safety_round, _ = start_round(
            session=session,
            actor=Actor.system("test"),
            settings=japan.settings,
            drill=False,
            reason="manual",
            kind="advance_notice",
            target=RoundTarget(municipality_ids=[city.id]),
        )
        session.commit()
        round_id, patient_id = safety_round.id, called.id
    japan.sim.configure(voice_answers={landline: "2"})
    japan.send()
    (call,) = japan.sim.calls(to=landline)
    assert call["status"] == "completed" and call["digits_sent"] == "2"
    assert call["said"][0]["text"].startswith("こちらは神奈川県です。在宅医療の事前連絡です。")
    answered = check(japan, round_id, patient_id)
    assert (answered.state, answered.last_channel) == ("safe", "voice")
    with japan.factory() as session:
        assert session.get(Patient, patient_id).planned_stay == "shelter"
