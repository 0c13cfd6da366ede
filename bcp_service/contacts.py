"""Whom a message reaches and how: the one rule for the first message, failover and every step.

A contact's channels are those of ``channels.CHANNELS`` whose rule reaches its address there, in the
table's order (each channel's ``rule.py``: a mobile takes SMS and calls, a landline, a 050 IP phone or
a toll-free number only calls; e-mail needs an e-mail address); a contact's ``preferred_channel`` goes
first. A phone channel's address is the contact's ``phone``; a channel with addresses of its own reads
the contact's ``contact_address`` row. A channel that failed for good (the row's ``refused_since``)
drops out for that contact only; ``bad_since`` (the number itself is invalid) drops the contact. ``choose`` then picks, for a patient's contacts in
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

from sqlalchemy import and_, exists
from sqlmodel import Session, col, select

from bcp_service.channels import CHANNELS, for_action
from bcp_service.channels.sms.rule import can_text, number_type
from bcp_service.models import ContactAddress, PatientContact, SafetyCheck
from notifiers.twilio_codes import NOT_THIS_CHANNEL, UNREACHABLE, fact_of

Purpose = Literal["first", "resend", "failover", "family", "call"]
__all__ = [
    "Contact",
    "address_rows",
    "bad_scope",
    "callable_phone",
    "can_text",
    "choose",
    "mark_refused",
    "number_type",
]


NONE: frozenset[str] = frozenset()


class Contact(NamedTuple):  # a tuple: a 200,000-patient round builds 400,000 of them
    id: int
    phone: str | None
    kind: str
    preferred: str = "sms"
    refused: frozenset[str] = NONE  # the channels that failed for good (``contact_address.refused_since``)
    own: tuple[tuple[str, str], ...] = ()  # (channel, address) of the channels with addresses of their own

    def address(self, channel: str) -> str | None:
        """Where ``channel`` reaches this contact: its own address there, else the phone for a phone channel."""
        for name, address in self.own:
            if name == channel:
                return address
        return self.phone if CHANNELS[channel].address_kind == "phone" else None

    @property
    def channels(self) -> tuple[str, ...]:
        """What this contact can still be reached by, in the order to try."""
        refused = self.refused
        able = [
            name
            for name, channel in CHANNELS.items()
            if name not in refused and (address := self.address(name)) and channel.reaches(address)
        ]
        if self.preferred in able:
            able.remove(self.preferred)
            able.insert(0, self.preferred)
        return tuple(able)


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


def choose(
    contacts: Iterable[Contact], purpose: Purpose, tried: Collection[tuple[int, str]] = ()
) -> list[tuple[Contact, str]]:
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
    return (
        select(
            PatientContact.patient_id,
            PatientContact.id,
            PatientContact.phone,
            PatientContact.kind,
            PatientContact.preferred_channel,
        )
        .where(col(PatientContact.bad_since).is_(None))
        .order_by(PatientContact.patient_id, PatientContact.position, PatientContact.id)
    )


def address_rows(*, session: Session, patient_ids) -> dict[int, tuple[frozenset[str], tuple[tuple[str, str], ...]]]:
    """contact id → (refused channels, own addresses) from ``contact_address``, for the contacts of
    ``patient_ids`` (a list or a subquery). Rows are few (a refusal, an e-mail address): most contacts have
    none, so a set-based caller (round creation) may read this beside its own contact query."""
    refused: dict[int, set[str]] = defaultdict(set)
    own: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for contact_id, kind, address, refused_since in session.execute(
        select(ContactAddress.contact_id, ContactAddress.kind, ContactAddress.address, ContactAddress.refused_since)
        .join(PatientContact, col(PatientContact.id) == ContactAddress.contact_id)
        .where(col(PatientContact.patient_id).in_(patient_ids), col(ContactAddress.kind).in_(list(CHANNELS)))
        .order_by(ContactAddress.contact_id, ContactAddress.kind)
    ):
        if refused_since is not None:
            refused[contact_id].add(kind)
        if address:
            own[contact_id].append((kind, address))
    return {
        contact_id: (frozenset(refused.get(contact_id, ())), tuple(own.get(contact_id, ())))
        for contact_id in refused.keys() | own.keys()
    }


def _rows_to_contacts(rows, addresses) -> dict[int, list[Contact]]:
    found: dict[int, list[Contact]] = defaultdict(list)
    nothing = (NONE, ())
    for patient_id, contact_id, phone, kind, preferred in rows:
        refused, own = addresses.get(contact_id, nothing)
        found[patient_id].append(Contact(contact_id, phone, kind, preferred or "sms", refused, own))
    return found


def contacts_of_patients(*, session: Session, patient_ids) -> dict[int, list[Contact]]:
    """patient id → its usable contacts in calling order; ``patient_ids`` may be a subquery."""
    addresses = address_rows(session=session, patient_ids=patient_ids)
    return _rows_to_contacts(
        session.exec(_contact_query().where(col(PatientContact.patient_id).in_(patient_ids))), addresses
    )


def find_usable_contacts(*, session: Session, check_ids: list[int]) -> dict[int, list[Contact]]:
    """check id → its patient's usable contacts in calling order."""
    patients = dict(
        session.exec(select(SafetyCheck.id, SafetyCheck.patient_id).where(col(SafetyCheck.id).in_(check_ids))).all()
    )
    by_patient = contacts_of_patients(session=session, patient_ids=sorted(set(patients.values())))
    return {check_id: by_patient[patient_id] for check_id, patient_id in patients.items() if patient_id in by_patient}


def callable_phone():
    """SQL, over ``PatientContact``: a number staff can call (the lists a nurse calls from): valid, not
    refused by calls (a landline that refused SMS stays), and a number at all (not an e-mail-only contact)."""
    return and_(
        col(PatientContact.phone).is_not(None),
        col(PatientContact.bad_since).is_(None),
        ~exists().where(
            ContactAddress.contact_id == PatientContact.id,
            ContactAddress.kind == "voice",
            col(ContactAddress.refused_since).is_not(None),
        ),
    )


def mark_refused(*, session: Session, contact_id: int, channel: str, now) -> None:
    """Record that ``channel`` refused this contact for good (its ``contact_address`` row, made if absent)."""
    row = session.exec(
        select(ContactAddress).where(ContactAddress.contact_id == contact_id, ContactAddress.kind == channel)
    ).first()
    if row is None:
        session.add(ContactAddress(contact_id=contact_id, kind=channel, refused_since=now))
    elif row.refused_since is None:
        row.refused_since = now
        session.add(row)
    session.flush()
