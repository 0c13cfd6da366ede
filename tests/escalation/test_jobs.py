"""Each escalation step as the job takes it: what is queued, recorded and counted."""

from __future__ import annotations

from datetime import timedelta

from bcp_service.answers.service import record_answer
from bcp_service.clock import aware
from bcp_service.models import PatientContact
from bcp_service.models.base import utcnow
from bcp_service.rounds.counters import read_counters, recount
from bcp_service.rounds.service import Actor, close_round
from tests.escalation.conftest import add_patient, age, check_of, escalate, events, messages, start


def test_nothing_happens_before_the_first_step(session, settings, area):
    patient = add_patient(session, area.city)
    safety_round = start(session, settings, area.city)
    age(session, safety_round, 14)
    assert sum(escalate(session, settings).values()) == 0
    check = check_of(session, safety_round.id, patient.id)
    assert check.escalation_step == 0 and events(session, check.id) == []


def test_resend_family_call_and_unreachable_in_turn(session, settings, area):
    patient = add_patient(session, area.city, contacts=3)
    session.add(
        PatientContact(patient_id=patient.id, position=4, kind="carer", phone="+81312345678", preferred_channel="voice")
    )
    safety_round = start(session, settings, area.city)
    check = check_of(session, safety_round.id, patient.id)
    first_contact = messages(session, check.id)[0].contact_id

    age(session, safety_round, 16)
    assert escalate(session, settings)["resend"] == 1
    check = check_of(session, safety_round.id, patient.id)
    assert check.escalation_step == 1
    assert aware(check.next_action_at) == aware(safety_round.started_at) + timedelta(minutes=30)
    resend = messages(session, check.id)[-1]
    assert (resend.template, resend.channel, resend.contact_id) == ("check_reminder", "sms", first_contact)
    assert resend.answer_token_hash and resend.state == "queued"
    assert escalate(session, settings)["resend"] == 0  # taken once

    age(session, safety_round, 31)
    assert escalate(session, settings)["family"] == 1
    family = [m for m in messages(session, check.id) if m.template == "check_family"]
    assert [m.contact_id for m in family] == [
        c.id
        for c in sorted(
            session.query(PatientContact).filter_by(patient_id=patient.id, preferred_channel="sms"),
            key=lambda c: c.position,
        )
    ][1:]
    # The landline carrier is in the family step too, by the only channel it has: a call.
    carer_call = messages(session, check.id)[-1]
    assert (carer_call.channel, carer_call.template, carer_call.to_number) == ("voice", None, "+81312345678")

    age(session, safety_round, 46)
    assert escalate(session, settings)["call"] == 1
    call = messages(session, check.id)[-1]
    assert (call.channel, call.template, call.contact_id) == ("voice", None, first_contact)

    age(session, safety_round, 61)
    assert escalate(session, settings)["unreachable"] == 1
    check = check_of(session, safety_round.id, patient.id)
    assert (check.state, check.escalation_step, check.next_action_at) == ("unreachable", 4, None)
    assert read_counters(session=session, round_id=safety_round.id) == recount(
        session=session, round_id=safety_round.id
    )

    steps = events(session, check.id)
    assert [(e.step, e.action, e.messages, e.detail) for e in steps] == [
        (1, "resend", 1, "1_contacts"),
        (2, "family", 3, "3_contacts"),
        (3, "call", 1, "1_contacts"),
        (4, "unreachable", 0, None),
    ]
    assert all(e.at is not None and e.actor_name == "system:escalation" for e in steps)
    age(session, safety_round, 120)
    assert sum(escalate(session, settings).values()) == 0


def test_a_late_job_takes_every_due_step_in_order(session, settings, area):
    patient = add_patient(session, area.city)
    safety_round = start(session, settings, area.city)
    age(session, safety_round, 90)
    done = escalate(session, settings)
    assert done == {"resend": 1, "family": 1, "call": 1, "unreachable": 1}
    check = check_of(session, safety_round.id, patient.id)
    assert [e.detail for e in events(session, check.id)] == ["1_contacts", "no_family_contact", "1_contacts", None]


def test_an_answer_stops_the_escalation(session, settings, area):
    answered = add_patient(session, area.city)
    silent = add_patient(session, area.city)
    safety_round = start(session, settings, area.city)
    record_answer(
        session=session, check_id=check_of(session, safety_round.id, answered.id).id, state="safe", channel="link"
    )
    age(session, safety_round, 61)
    assert escalate(session, settings)["resend"] == 1  # only the silent one
    assert events(session, check_of(session, safety_round.id, answered.id).id) == []
    assert check_of(session, safety_round.id, silent.id).state == "unreachable"


def test_no_usable_contact_still_ends_unreachable(session, settings, area):
    patient = add_patient(session, area.city, contacts=0)
    safety_round = start(session, settings, area.city)
    assert check_of(session, safety_round.id, patient.id).state == "delivery_failed"
    age(session, safety_round, 61)
    escalate(session, settings)
    check = check_of(session, safety_round.id, patient.id)
    assert check.state == "unreachable"
    assert [e.detail for e in events(session, check.id)] == ["no_contact", "no_family_contact", "no_contact", None]
    assert messages(session, check.id) == []
    assert read_counters(session=session, round_id=safety_round.id) == recount(
        session=session, round_id=safety_round.id
    )


def test_closing_the_round_stops_escalation_and_cancels_what_is_queued(session, settings, area):
    patient = add_patient(session, area.city)
    safety_round = start(session, settings, area.city)
    age(session, safety_round, 16)
    escalate(session, settings)
    check = check_of(session, safety_round.id, patient.id)
    close_round(session=session, round_id=safety_round.id, actor=Actor.system("test"))
    assert {m.state for m in messages(session, check.id)} == {"cancelled"}
    age(session, safety_round, 61)
    assert sum(escalate(session, settings).values()) == 0
    assert check_of(session, safety_round.id, patient.id).escalation_step == 1


def test_a_round_without_steps_and_the_settings_default(session, settings, area):
    patient = add_patient(session, area.city)
    quiet = start(session, settings, area.city, policy={"steps": []})
    age(session, quiet, 600)
    assert sum(escalate(session, settings).values()) == 0
    default = start(session, settings, area.city, policy=None)
    age(session, default, settings.escalation_steps[0]["after_minutes"] + 1)
    assert escalate(session, settings)[settings.escalation_steps[0]["action"]] == 1
    assert check_of(session, default.id, patient.id).escalation_step == 1


def test_drill_messages_stay_drills(session, settings, area):
    patient = add_patient(session, area.city)
    safety_round = start(session, settings, area.city, drill=True)
    age(session, safety_round, 16)
    escalate(session, settings)
    assert all(m.drill for m in messages(session, check_of(session, safety_round.id, patient.id).id))
    assert utcnow() > aware(safety_round.started_at)


def test_without_a_round_policy_each_risk_tier_has_its_own_timing(session, settings, area, client):
    critical = add_patient(session, area.city, uses_ventilator=True, ventilator_mode="invasive", uses_oxygen=False)
    standard = add_patient(session, area.city, oxygen_source="liquid", cylinder_hours=12.0, max_hours_without_device=4)
    safety_round = start(session, settings, area.city, policy=None)
    age(session, safety_round, 4)  # past critical's 3-minute resend, before standard's 15
    escalate(session, settings)
    assert [e.action for e in events(session, check_of(session, safety_round.id, critical.id).id)] == ["resend"]
    assert events(session, check_of(session, safety_round.id, standard.id).id) == []
    age(session, safety_round, 21)
    escalate(session, settings)
    assert check_of(session, safety_round.id, critical.id).state == "unreachable"
    assert [e.action for e in events(session, check_of(session, safety_round.id, standard.id).id)] == ["resend"]
    shown = client.get(f"/api/v1/rounds/{safety_round.id}/escalation").json()
    assert [s["after_minutes"] for s in shown["tiers"]["critical"]] == [3, 6, 10, 20]
    assert [s["after_minutes"] for s in shown["tiers"]["standard"]] == [15, 30, 45, 60]
