"""Whom a message reaches and how: the one rule for the first message, failover and every step.

A number's channels are those of ``channels.CHANNELS`` whose rule reaches it, in the table's order
(each channel's ``rule.py``: a mobile takes SMS and calls, a landline, a 050 IP phone or a toll-free
number only calls); a contact's ``preferred_channel`` goes first. A channel that failed for good
(``sms_bad_since`` / ``voice_bad_since``) drops out for that number only; ``bad_since`` (the
number itself is invalid) drops the contact. ``choose`` then picks, for a patient's contacts in
calling order:

- ``first`` and ``resend``: the first contact that has a channel, on its first channel;
- ``failover``: the next (contact, channel) not tried yet for the check: the same number's other
  channel first (a landline refused SMS: call it), then the next contacts;
- ``family``: every other contact (family, carers), each on its first channel;
- ``call`` (an escalation step that names a channel, ``Channel.escalation_action``): the first
  contact that can take that channel, on it.

What a failure rules out comes from the notifier's neutral fact (``notifiers/twilio_codes.py``):
``unreachable`` the number, ``not_this_channel`` only that channel.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from typing import Literal, NamedTuple

from sqlmodel import Session, col, select

from bcp_service.channels import CHANNELS, for_action
from bcp_service.channels.sms.rule import can_text, number_type
from bcp_service.models import PatientContact, SafetyCheck
from notifiers.twilio_codes import NOT_THIS_CHANNEL, UNREACHABLE, fact_of

Purpose = Literal["first", "resend", "failover", "family", "call"]
__all__ = ["Contact", "bad_scope", "can_text", "choose", "number_type"]


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
        refused = self.refused
        able = [name for name, channel in CHANNELS.items() if name not in refused and channel.reaches(self.phone)]
        if self.preferred in able:
            able.remove(self.preferred)
            able.insert(0, self.preferred)
        return tuple(able)

    @property
    def refused(self) -> frozenset[str]:
        """The channels that failed for good on this number (stored per channel on the contact)."""
        return frozenset(name for name, bad in (("sms", self.sms_bad), ("voice", self.voice_bad)) if bad)


def bad_scope(channel: str, code: str | None, fact: str | None = None) -> str | None:
    """What a permanent failure on ``channel`` rules out: "number", the channel, or None.

    ``fact`` is the notifier's (a send failure); a delivery status brings only the code, which the
    provider's module reads (``notifiers.twilio_codes.fact_of``).
    """
    fact = fact or fact_of(code, channel)
    if fact == UNREACHABLE:
        return "number"
    if fact == NOT_THIS_CHANNEL:
        return channel
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
        wanted = for_action(purpose)
        return [(contact, wanted) for contact, channels in reachable if wanted in channels][:1]
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
