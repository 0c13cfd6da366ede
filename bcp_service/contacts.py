"""Whom a message reaches and how: the one rule for the first message, failover and every step.

A number's channels come from what it can do (``phonenumbers`` number type): a mobile takes SMS
and calls, a landline (or a 050 IP phone, a toll-free number) only calls; a contact whose
``preferred_channel`` is ``voice`` is called before it is texted. A channel that failed for good
(``sms_bad_since`` / ``voice_bad_since``) drops out for that number only; ``bad_since`` (the
number itself is invalid) drops the contact. ``choose`` then picks, for a patient's contacts in
calling order:

- ``first`` and ``resend``: the first contact that has a channel, on its first channel;
- ``failover``: the next (contact, channel) not tried yet for the check: the same number's other
  channel first (a landline refused SMS: call it), then the next contacts;
- ``family``: every other contact (family, carers), each on its first channel;
- ``call``: the first contact that can take a call, by voice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from typing import Literal, NamedTuple

import phonenumbers
from sqlmodel import Session, col, select

from bcp_service.models import PatientContact, SafetyCheck

Purpose = Literal["first", "resend", "failover", "family", "call"]
NumberType = phonenumbers.PhoneNumberType
TEXTABLE = frozenset({NumberType.MOBILE, NumberType.FIXED_LINE_OR_MOBILE, NumberType.UNKNOWN})
# Error codes that say a number can never take a channel (Twilio's error pages): the number is
# invalid (every channel), it cannot receive SMS (a landline, an unknown subscriber, opted out),
# or it refuses calls. Anything else fails the message, not the number.
NUMBER_BAD_CODES = frozenset({"21211", "21217", "13224"})
SMS_BAD_CODES = frozenset({"21614", "21610", "30005", "30006"})
VOICE_BAD_CODES = frozenset({"13225", "13227"})


class Contact(NamedTuple):  # a tuple: a 200,000-patient round builds 400,000 of them
    id: int
    phone: str
    kind: str
    preferred: str = "sms"
    sms_bad: bool = False
    voice_bad: bool = False

    @property
    def channels(self) -> tuple[str, ...]:
        """What this number can still be reached by, in the order to try."""
        if can_text(self.phone):
            able = ("voice", "sms") if self.preferred == "voice" else ("sms", "voice")
        else:
            able = ("voice",)
        if self.sms_bad or self.voice_bad:
            able = tuple(channel for channel in able
                         if not (channel == "sms" and self.sms_bad or channel == "voice" and self.voice_bad))
        return able


_TYPES_BY_PREFIX: dict[str, NumberType] = {}


def number_type(e164: str) -> NumberType:
    """``phonenumbers``' type of a stored (valid, E.164) number.

    The type of a number follows from its leading digits (in Japan 070/080/090 mobile, 050 IP
    phone, the rest fixed lines), so it is remembered by all but the last four digits: a 200,000
    patient round parses each prefix once instead of every number (26 µs each).
    """
    prefix = e164[:-4]
    found = _TYPES_BY_PREFIX.get(prefix)
    if found is None:
        try:
            found = phonenumbers.number_type(phonenumbers.parse(e164, None))
        except phonenumbers.NumberParseException:
            found = NumberType.UNKNOWN
        if len(_TYPES_BY_PREFIX) < 1 << 18:
            _TYPES_BY_PREFIX[prefix] = found
    return found


def can_text(e164: str) -> bool:
    return number_type(e164) in TEXTABLE


def bad_scope(channel: str, code: str | None) -> str | None:
    """What a permanent failure with ``code`` on ``channel`` rules out: "number", "sms", "voice" or None."""
    if not code:
        return None
    if code in NUMBER_BAD_CODES:
        return "number"
    if channel == "sms" and code in SMS_BAD_CODES:
        return "sms"
    if channel == "voice" and code in VOICE_BAD_CODES:
        return "voice"
    return None


def choose(contacts: Iterable[Contact], purpose: Purpose,
           tried: Collection[tuple[int, str]] = ()) -> list[tuple[Contact, str]]:
    """(contact, channel) pairs to send to, for ``contacts`` in calling order."""
    if purpose in ("first", "resend"):  # a round's start looks no further than the first reachable
        for contact in contacts:
            channels = contact.channels
            if channels:
                return [(contact, channels[0])]
        return []
    reachable = [(contact, channels) for contact in contacts if (channels := contact.channels)]
    if purpose == "family":
        return [(contact, channels[0]) for contact, channels in reachable[1:]]
    if purpose == "call":
        return [(contact, "voice") for contact, channels in reachable if "voice" in channels][:1]
    if purpose == "failover":
        for contact, channels in reachable:
            for channel in channels:
                if (contact.id, channel) not in tried:
                    return [(contact, channel)]
        return []
    raise ValueError(f"unknown purpose {purpose!r}")


def _contact_query():
    return (select(PatientContact.patient_id, PatientContact.id, PatientContact.phone, PatientContact.kind,
                   PatientContact.preferred_channel, PatientContact.sms_bad_since, PatientContact.voice_bad_since)
            .where(col(PatientContact.bad_since).is_(None))
            .order_by(PatientContact.patient_id, PatientContact.position, PatientContact.id))


def _rows_to_contacts(rows) -> dict[int, list[Contact]]:
    found: dict[int, list[Contact]] = defaultdict(list)
    for patient_id, contact_id, phone, kind, preferred, sms_bad, voice_bad in rows:
        found[patient_id].append(Contact(contact_id, phone, kind, preferred or "sms", sms_bad is not None,
                                         voice_bad is not None))
    return found


def contacts_of_patients(*, session: Session, patient_ids) -> dict[int, list[Contact]]:
    """patient id → its usable contacts in calling order; ``patient_ids`` may be a subquery."""
    return _rows_to_contacts(session.exec(_contact_query().where(col(PatientContact.patient_id).in_(patient_ids))))


def find_usable_contacts(*, session: Session, check_ids: list[int]) -> dict[int, list[Contact]]:
    """check id → its patient's usable contacts in calling order."""
    patients = dict(session.exec(select(SafetyCheck.id, SafetyCheck.patient_id)
                                 .where(col(SafetyCheck.id).in_(check_ids))).all())
    by_patient = contacts_of_patients(session=session, patient_ids=sorted(set(patients.values())))
    return {check_id: by_patient[patient_id] for check_id, patient_id in patients.items() if patient_id in by_patient}
