"""The one rule for whom a message reaches and by which channel (contacts)."""

from __future__ import annotations

from bcp_service.contacts import Contact, bad_scope, can_text, choose
from bcp_service.models import PatientContact
from bcp_service.models.base import utcnow
from bcp_service.outbox.delivery import handle_failures
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from tests.escalation.conftest import add_patient, age, check_of, escalate, messages, phone, start
from tests.factories import refused_channels

MOBILE, LANDLINE, IP_PHONE = "+819012345678", "+81312345678", "+815012345678"


def test_what_a_number_can_do():
    assert can_text(MOBILE) and can_text("+818012345678") and can_text("+817012345678")
    assert not can_text(LANDLINE) and not can_text("+81662345678") and not can_text(IP_PHONE)
    assert Contact(1, MOBILE, "self").channels == ("sms", "voice")
    assert Contact(1, LANDLINE, "self").channels == ("voice",)
    assert Contact(1, MOBILE, "self", preferred="voice").channels == ("voice", "sms")
    assert Contact(1, MOBILE, "self", refused=frozenset({"sms"})).channels == ("voice",)
    assert Contact(1, LANDLINE, "self", refused=frozenset({"voice"})).channels == ()


def test_one_rule_for_first_failover_and_every_step():
    landline, mobile, family = (
        Contact(1, LANDLINE, "self"),
        Contact(2, MOBILE, "family"),
        Contact(3, "+819087654321", "carer"),
    )
    contacts = [landline, mobile, family]
    assert choose(contacts, "first") == [(landline, "voice")]
    assert choose(contacts, "resend") == [(landline, "voice")]
    assert choose(contacts, "family") == [(mobile, "sms"), (family, "sms")]
    assert choose(contacts, "call") == [(landline, "voice")]
    assert choose([mobile, family], "failover", tried={(2, "sms")}) == [(mobile, "voice")]
    assert choose([mobile, family], "failover", tried={(2, "sms"), (2, "voice")}) == [(family, "sms")]
    assert choose([Contact(1, LANDLINE, "self", refused=frozenset({"voice"}))], "first") == []
    assert choose([Contact(1, LANDLINE, "self", refused=frozenset({"voice"}))], "call") == []


def test_a_failure_rules_out_what_failed_only():
    assert bad_scope("sms", "21614") == "sms"  # a landline refuses SMS: it may still ring
    assert bad_scope("voice", "21614") is None
    assert bad_scope("sms", "21211") == "number" and bad_scope("voice", "21211") == "number"
    assert bad_scope("voice", "13225") == "voice"
    assert bad_scope("sms", "30003") is None and bad_scope("sms", None) is None


def test_a_landline_only_patient_is_called_first(session, settings, area):
    patient = add_patient(session, area.city, contacts=0)
    session.add(PatientContact(patient_id=patient.id, position=1, kind="self", phone=phone("+813")))
    session.flush()
    safety_round = start(session, settings, area.city)
    check = check_of(session, safety_round.id, patient.id)
    (first,) = messages(session, check.id)
    assert (first.channel, first.template, first.answer_token is not None) == ("voice", None, True)
    assert check.state == "no_answer"
    age(session, safety_round, 46)
    escalate(session, settings)
    calls = [m for m in messages(session, check.id) if m.channel == "voice"]
    assert len(calls) == 3 and all(m.to_number == first.to_number for m in calls)  # first, resend, call


def test_sms_refused_by_the_number_fails_over_to_a_call_on_the_same_number(session, settings, area):
    patient = add_patient(session, area.city, contacts=1)
    safety_round = start(session, settings, area.city)
    check = check_of(session, safety_round.id, patient.id)
    (sms,) = messages(session, check.id)
    sms.state = "failed"
    session.add(sms)
    handle_failures(session, [(sms.id, True, "21614")], now=utcnow())
    contact = session.get(PatientContact, sms.contact_id)
    session.refresh(contact)
    assert refused_channels(session, contact.id) == {"sms"} and contact.bad_since is None
    call = messages(session, check.id)[-1]
    assert (call.channel, call.contact_id, call.template) == ("voice", sms.contact_id, None)
    assert check_of(session, safety_round.id, patient.id).state == "no_answer"


def test_a_refused_call_fails_over_to_the_rounds_own_first_text(session, settings, area):
    # A call carries no template: the SMS that replaces it is the round's first text, here the advance notice's.
    patient = add_patient(session, area.city, contacts=0)
    session.add(PatientContact(patient_id=patient.id, position=1, kind="self", phone=MOBILE, preferred_channel="voice"))
    session.flush()
    safety_round, _ = start_round(
        session=session,
        actor=Actor.system("test"),
        settings=settings,
        drill=False,
        reason="manual",
        kind="advance_notice",
        target=RoundTarget(municipality_ids=[area.city.id]),
    )
    check = check_of(session, safety_round.id, patient.id)
    (call,) = messages(session, check.id)
    assert (call.channel, call.template) == ("voice", None)
    call.state = "failed"
    session.add(call)
    handle_failures(session, [(call.id, True, "13225")], now=utcnow())
    text = messages(session, check.id)[-1]
    assert (text.channel, text.contact_id, text.template) == ("sms", call.contact_id, "notice_initial")
