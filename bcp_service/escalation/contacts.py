"""Whom each escalation step reaches, read for a batch of checks at once.

- resend: the first usable SMS contact (the one the first message went to, unless the provider
  has since marked that number bad, in which case the next one).
- family: every other usable SMS contact (family, carers), in the register's order.
- call: the first usable contact of any channel (a landline given for calls counts).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlmodel import Session, col, select

from bcp_service.models import PatientContact, SafetyCheck


@dataclass(frozen=True)
class Contact:
    id: int
    phone: str
    kind: str
    channel: str


def find_usable_contacts(*, session: Session, check_ids: list[int]) -> dict[int, list[Contact]]:
    """check id → its patient's usable contacts in calling order."""
    rows = session.exec(
        select(SafetyCheck.id, PatientContact.id, PatientContact.phone, PatientContact.kind,
               PatientContact.preferred_channel)
        .join(PatientContact, PatientContact.patient_id == SafetyCheck.patient_id)
        .where(col(SafetyCheck.id).in_(check_ids), col(PatientContact.bad_since).is_(None))
        .order_by(SafetyCheck.id, PatientContact.position, PatientContact.id)
    ).all()
    found: dict[int, list[Contact]] = defaultdict(list)
    for check_id, contact_id, phone, kind, channel in rows:
        found[check_id].append(Contact(contact_id, phone, kind, channel))
    return found


def for_resend(contacts: list[Contact]) -> list[Contact]:
    return [c for c in contacts if c.channel == "sms"][:1]


def for_family(contacts: list[Contact]) -> list[Contact]:
    return [c for c in contacts if c.channel == "sms"][1:]


def for_call(contacts: list[Contact]) -> list[Contact]:
    return contacts[:1]
