"""A round's first messages: the common case chosen in SQL (PostgreSQL) agrees with ``contacts.choose``.

On PostgreSQL ``rounds.creation`` picks the SMS to the first usable contact in SQL when that number is
surely textable; everyone else is chosen in Python. Both must give what ``contacts.choose`` gives, on a
population that mixes mobiles, landlines, IP phones, refused channels, preferred calls, numbers gone bad,
family-only contacts and patients with nothing usable; and the contact budget must hold the same rows.
"""

from __future__ import annotations

import random
import re
from datetime import timedelta

import phonenumbers
import pytest
from sqlmodel import select

from bcp_service.channels.sms.rule import can_text, sure_mobile_sql_patterns
from bcp_service.contacts import choose, contacts_of_patients
from bcp_service.models import ContactAddress, OutboxMessage, PatientContact, SafetyCheck
from bcp_service.models.base import utcnow
from bcp_service.rounds import creation
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from tests.factories import create_patient, refuse

# Every kind of Japanese number a registry holds, as E.164 (national number after +81).
NUMBER_KINDS = {
    "mobile_090": lambda r: f"+8190{r.randint(10000000, 99999999)}",
    "mobile_080": lambda r: f"+8180{r.randint(10000000, 99999999)}",
    "mobile_070": lambda r: f"+8170{r.randint(10000000, 99999999)}",
    "landline_043": lambda r: f"+8143{r.randint(1000000, 9999999)}",
    "landline_03": lambda r: f"+813{r.randint(10000000, 99999999)}",
    "ip_050": lambda r: f"+8150{r.randint(10000000, 99999999)}",
    "toll_free_0120": lambda r: f"+81120{r.randint(100000, 999999)}",
    "pager_020": lambda r: f"+8120{r.randint(10000000, 99999999)}",
    "personal_060": lambda r: f"+8160{r.randint(1000000, 9999999)}",
    "odd_0800": lambda r: f"+81800{r.randint(1000000, 9999999)}",
}


def _population(session, municipality, rng: random.Random, count: int) -> list[int]:
    """``count`` patients with 0–3 contacts each, of every kind and state; returns their ids."""
    ids = []
    now = utcnow()
    for _ in range(count):
        patient = create_patient(session, municipality, phones=[])
        for position in rng.sample(range(1, 6), rng.choice([0, 1, 1, 2, 2, 3])):
            roll = rng.random()
            mail_only = 0.85 < roll <= 0.9  # a family reached only by e-mail (email, issue 24.4)
            contact = PatientContact(
                patient_id=patient.id,
                position=position,
                kind=rng.choice(["self", "family", "carer"]),
                phone=None if mail_only else NUMBER_KINDS[rng.choice(list(NUMBER_KINDS))](rng),
                preferred_channel=rng.choice([None, "sms", "sms", "voice", "email"]),
                bad_since=now if roll > 0.9 else None,
            )
            session.add(contact)
            session.flush()
            refuse(session, contact.id, *(["sms"] if roll < 0.15 else []), *(["voice"] if 0.1 < roll < 0.2 else []))
            if mail_only or rng.random() < 0.1:
                session.add(ContactAddress(contact_id=contact.id, kind="email", address=f"k{contact.id}@example.jp"))
        ids.append(patient.id)
    session.flush()
    return ids


def _first_messages(session, round_id: int) -> dict[int, tuple[int, str, str | None, int]]:
    """patient id → (contact id, channel, template, priority) of the round's queued first message."""
    rows = session.exec(
        select(
            SafetyCheck.patient_id,
            OutboxMessage.contact_id,
            OutboxMessage.channel,
            OutboxMessage.template,
            OutboxMessage.priority,
        )
        .join(OutboxMessage, OutboxMessage.check_id == SafetyCheck.id)
        .where(SafetyCheck.round_id == round_id)
    ).all()
    return {
        patient_id: (contact_id, channel, template, priority)
        for patient_id, contact_id, channel, template, priority in rows
    }


def _start(session, settings, area):
    safety_round, _ = start_round(
        session=session,
        actor=Actor.system("test"),
        settings=settings,
        drill=True,
        reason="manual",
        target=RoundTarget(municipality_ids=[area.town.id]),
    )
    return safety_round


def test_the_sure_mobile_pattern_only_names_textable_numbers():
    patterns = sure_mobile_sql_patterns()
    assert patterns is not None
    sure, other = (re.compile(pattern) for pattern in patterns)
    named = 0
    # Every leading pair of digits at every length a stored number can have.
    for lead in range(10, 100):
        for length in range(8, 12):
            for tail in ("0" * 12, "1234567890123", "9" * 12):
                number = f"+81{lead}{tail[: length - 2]}"
                if sure.search(number) and not other.search(number):
                    named += 1
                    assert can_text(number), number
                    assert phonenumbers.is_valid_number(phonenumbers.parse(number)), number
    assert named > 0


@pytest.mark.parametrize("seed", [1, 2])
def test_first_messages_chosen_in_sql_agree_with_contacts_choose(session, settings, area, monkeypatch, seed):
    rng = random.Random(seed)
    patient_ids = _population(session, area.town, rng, 150)
    expected = {}
    for patient_id, contacts in contacts_of_patients(session=session, patient_ids=patient_ids).items():
        for contact, channel in choose(contacts, "first"):
            expected[patient_id] = (contact.id, channel)
    chosen_in_python = []
    real_choose = creation.choose
    monkeypatch.setattr(
        creation, "choose", lambda contacts, purpose: chosen_in_python.append(1) or real_choose(contacts, purpose)
    )

    safety_round = _start(session, settings, area)

    found = _first_messages(session, safety_round.id)
    assert {patient: (contact, channel) for patient, (contact, channel, _, _) in found.items()} == expected
    assert all((template is None) == (channel == "voice") for _, channel, template, _ in found.values())
    assert safety_round.message_count == len(expected)
    assert safety_round.no_contact_count == len(patient_ids) - len(expected)
    sms_first = sum(1 for _, channel in expected.values() if channel == "sms")
    if session.get_bind().dialect.name == "postgresql":
        # Most SMS were chosen in SQL: Python saw only the rest (never a patient the SQL took).
        assert len(chosen_in_python) < len(patient_ids) - sms_first // 2
    else:
        assert len(chosen_in_python) == len(patient_ids)


def test_sql_and_python_paths_queue_the_same_rows_and_hold_the_same_to_the_budget(session, settings, area, monkeypatch):
    rng = random.Random(3)
    _population(session, area.town, rng, 120)
    first = _start(session, settings, area)  # everyone reached now: the next round is held by the contact budget
    session.flush()

    def second_round(in_sql: bool):
        if not in_sql:
            monkeypatch.setattr(creation, "choose_first_sms_in_sql", lambda **_: False)
        nested = session.begin_nested()
        started = utcnow()
        safety_round = _start(session, settings, area)
        rows = session.exec(
            select(
                SafetyCheck.patient_id,
                OutboxMessage.contact_id,
                OutboxMessage.channel,
                OutboxMessage.to_number,
                OutboxMessage.template,
                OutboxMessage.priority,
                OutboxMessage.next_attempt_at,
            )
            .join(OutboxMessage, OutboxMessage.check_id == SafetyCheck.id)
            .where(SafetyCheck.round_id == safety_round.id)
        ).all()
        nested.rollback()
        monkeypatch.undo()
        # A row due at once is due "now" of its own run; a held row at the first round's time plus the budget.
        return {row[0]: (*row[1:6], "now" if row[6] <= started + timedelta(seconds=30) else row[6]) for row in rows}

    in_sql, in_python = second_round(True), second_round(False)
    assert in_sql == in_python
    held = [due for *_, due in in_sql.values() if due != "now"]
    assert len(held) == first.message_count  # every phone of the first round waits for its budget
    assert all(due > utcnow() + timedelta(minutes=settings.contact_budget_minutes - 1) for due in held)
