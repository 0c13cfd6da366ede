"""Filling a new round: one check per patient and the first message of each, in set-based SQL.

A 200,000-patient round must be created and queued within seconds, so nothing here loops over
patients in the ORM: checks are ``INSERT ... SELECT``. The first message of each check (contact
and channel) is chosen by the one rule in ``contacts`` over plain rows read in one
query. The outbox rows go in by the one writer, ``outbox_writer.queue`` (on PostgreSQL a batch
this large draws its tokens in SQL), in the round's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, DateTime, Integer, String, func, insert, literal, select, text, update
from sqlmodel import Session, col

from bcp_service import outbox_writer
from bcp_service.contacts import Contact, choose, contacts_of_patients
from bcp_service.models import HomeCareRegionMunicipality, HubMunicipality, Patient, SafetyCheck
from bcp_service.models.rounds import CheckState
from bcp_service.outbox_writer import Queued
from bcp_service.rounds.messages import INITIAL_TEMPLATE

CHUNK = 5000


def insert_checks(*, session: Session, round_id: int, conditions: Sequence[ColumnElement[bool]], now: datetime) -> None:
    # A municipality may sit in several home-care regions; the board files it under the first.
    region = (
        select(HomeCareRegionMunicipality.municipality_id, func.min(HomeCareRegionMunicipality.region_id).label("region_id"))
        .group_by(HomeCareRegionMunicipality.municipality_id)
        .subquery()
    )
    # A patient registered without a 連携拠点 is filed under the hub covering the municipality (the first,
    # if several), so the board's hub table names a hub; 「連携拠点なし」 remains only where none covers it.
    hub = (
        select(HubMunicipality.municipality_id, func.min(HubMunicipality.institution_id).label("hub_id"))
        .group_by(HubMunicipality.municipality_id)
        .subquery()
    )
    source = (
        select(
            literal(round_id, Integer), Patient.id, Patient.risk_tier, Patient.municipality_id, region.c.region_id,
            func.coalesce(Patient.hub_id, hub.c.hub_id), literal(CheckState.no_answer.value, String),
            literal(0, Integer), literal(now, DateTime(timezone=True)),
        )
        .select_from(Patient)
        .outerjoin(region, region.c.municipality_id == Patient.municipality_id)
        .outerjoin(hub, hub.c.municipality_id == Patient.municipality_id)
        .where(*conditions)
    )
    columns = ["round_id", "patient_id", "risk_tier", "municipality_id", "region_id", "hub_id", "state",
               "escalation_step", "created_at"]
    session.execute(insert(SafetyCheck.__table__).from_select(columns, source))


def first_messages(*, session: Session, round_id: int) -> list[tuple[int, str, Contact | None, str | None]]:
    """(check id, risk tier, contact, channel) for every check, by the one rule (contacts)."""
    in_round = select(SafetyCheck.patient_id).where(SafetyCheck.round_id == round_id)
    by_patient = contacts_of_patients(session=session, patient_ids=in_round)
    found = []
    # A check that follows an earlier round's conversation of the same incident is sent nothing (rounds.incidents).
    for check_id, patient_id, risk_tier in session.execute(
        select(SafetyCheck.id, SafetyCheck.patient_id, SafetyCheck.risk_tier)
        .where(SafetyCheck.round_id == round_id, col(SafetyCheck.follows_check_id).is_(None))
    ):
        chosen = choose(by_patient.get(patient_id, ()), "first")
        contact, channel = chosen[0] if chosen else (None, None)
        found.append((check_id, risk_tier, contact, channel))
    return found


def queue_first_messages(*, session: Session, round_id: int, drill: bool, now: datetime,
                         template: str = INITIAL_TEMPLATE, budget_minutes: int = 0) -> tuple[int, int]:
    """Queue one message per check that has a usable contact; returns (queued, checks with none).

    A mobile gets the SMS, a landline-only patient a voice call (contacts.choose).
    """
    if session.get_bind().dialect.name == "postgresql":
        # Reading each patient's contacts sorts about two rows per patient: keep that in memory.
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    chosen: list[Queued] = []
    no_contact: list[int] = []
    for check_id, risk_tier, contact, channel in first_messages(session=session, round_id=round_id):
        if contact is None:
            no_contact.append(check_id)
        else:
            chosen.append(Queued(check_id, risk_tier, contact.id, channel, contact.address(channel)))
    outbox_writer.queue(session=session, round_id=round_id, messages=chosen, template=template, drill=drill, now=now,
                        budget_minutes=budget_minutes)
    for start in range(0, len(no_contact), CHUNK):
        session.execute(
            update(SafetyCheck)
            .where(col(SafetyCheck.id).in_(no_contact[start:start + CHUNK]))
            .values(state=CheckState.delivery_failed.value)
        )
    return len(chosen), len(no_contact)


# A round this large changes the tables' size enough to mislead the planner until autovacuum
# next analyzes them (up to a minute): the board's lists went from 0.1 ms to 90 ms a query.
ANALYZE_AFTER = 5_000


def refresh_statistics(*, session: Session, added: int) -> None:
    """PostgreSQL: ANALYZE the round's tables in the creating transaction (it samples its own new rows)."""
    if added >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE safety_check, outbox_message"))
