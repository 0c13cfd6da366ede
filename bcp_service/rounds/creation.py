"""Filling a new round: one check per patient and the first message of each, in set-based SQL.

A 200,000-patient round must be created and queued within seconds, so nothing here loops over
patients in the ORM: checks are ``INSERT ... SELECT``. The first message of each check (contact
and channel) is chosen by the one rule in ``contacts`` over plain rows read in one
query. The outbox rows go in by the one writer, ``outbox_writer.queue`` (on PostgreSQL a batch
this large draws its tokens in SQL), in the round's transaction.

On PostgreSQL the common case is chosen in SQL instead (``FIRST_SMS_SQL``): a patient whose first usable
contact has a number surely textable (``channels.sms.rule.sure_mobile_sql_patterns``), no refused SMS
and no other preferred channel gets the SMS to it, which is what ``contacts.choose`` picks for it; only
the others (landline-only, refused channels, a preferred call, numbers of other kinds) are read and
chosen in Python. A test holds the two to the same answers on a mixed population
(tests/rounds/test_first_choice.py). Reading and choosing every patient in Python took 5 s of a
200,000-patient round (load_tests/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    String,
    column,
    func,
    insert,
    literal,
    select,
    table,
    text,
    update,
)
from sqlmodel import Session, col

from bcp_service import outbox_writer
from bcp_service.channels import CHANNELS
from bcp_service.channels.sms.rule import sure_mobile_sql_patterns
from bcp_service.contacts import Contact, choose, contacts_of_patients
from bcp_service.models import HomeCareRegionMunicipality, HubMunicipality, Patient, SafetyCheck
from bcp_service.models.rounds import CheckState
from bcp_service.outbox_writer import Queued
from bcp_service.rounds.messages import INITIAL_TEMPLATE

CHUNK = 5000


def insert_checks(*, session: Session, round_id: int, conditions: Sequence[ColumnElement[bool]], now: datetime) -> None:
    # A municipality may sit in several home-care regions; the board files it under the first.
    region = (
        select(
            HomeCareRegionMunicipality.municipality_id,
            func.min(HomeCareRegionMunicipality.region_id).label("region_id"),
        )
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
            literal(round_id, Integer),
            Patient.id,
            Patient.risk_tier,
            Patient.municipality_id,
            region.c.region_id,
            func.coalesce(Patient.hub_id, hub.c.hub_id),
            literal(CheckState.no_answer.value, String),
            literal(0, Integer),
            literal(now, DateTime(timezone=True)),
        )
        .select_from(Patient)
        .outerjoin(region, region.c.municipality_id == Patient.municipality_id)
        .outerjoin(hub, hub.c.municipality_id == Patient.municipality_id)
        .where(*conditions)
    )
    columns = [
        "round_id",
        "patient_id",
        "risk_tier",
        "municipality_id",
        "region_id",
        "hub_id",
        "state",
        "escalation_step",
        "created_at",
    ]
    session.execute(insert(SafetyCheck.__table__).from_select(columns, source))


# The checks whose first message is the SMS to the first usable contact, surely (see the module's text);
# filled into a temporary table that the outbox writer reads beside the rows chosen in Python.
FIRST_SMS_TABLE = "first_sms"
FIRST_SMS_SQL = f"""
CREATE TEMPORARY TABLE {FIRST_SMS_TABLE} ON COMMIT DROP AS
SELECT s.id AS check_id, s.risk_tier, c.id AS contact_id, CAST(:channel AS varchar(10)) AS channel, c.phone
FROM safety_check s
JOIN (SELECT DISTINCT ON (patient_id) patient_id, id, phone, preferred_channel
      FROM patient_contact
      WHERE bad_since IS NULL AND patient_id IN (SELECT patient_id FROM safety_check WHERE round_id = :round_id)
      ORDER BY patient_id, position, id) c ON c.patient_id = s.patient_id
WHERE s.round_id = :round_id AND s.follows_check_id IS NULL
  AND NOT EXISTS (SELECT 1 FROM contact_address a WHERE a.contact_id = c.id AND a.kind = :channel
                  AND a.refused_since IS NOT NULL)
  AND coalesce(c.preferred_channel, :channel) = :channel
  AND c.phone ~ :sure AND c.phone !~ :other
"""


def choose_first_sms_in_sql(*, session: Session, round_id: int) -> bool:
    """PostgreSQL: fill ``FIRST_SMS_TABLE`` with the round's common case; False where it cannot (then all in Python)."""
    patterns = sure_mobile_sql_patterns()
    # The SQL mirrors contacts.choose only while SMS is the first channel of the table (tried first by default).
    if session.get_bind().dialect.name != "postgresql" or patterns is None or next(iter(CHANNELS)) != "sms":
        return False
    sure, other = patterns
    checks = session.execute(select(func.count()).where(SafetyCheck.round_id == round_id)).scalar_one()
    if checks >= ANALYZE_AFTER:
        # Planned on the statistics of a table without this round, the choice ran as a nested loop for
        # minutes; with the new checks sampled (in this transaction) it takes a fraction of a second.
        session.execute(text("ANALYZE safety_check"))
    session.execute(text(FIRST_SMS_SQL), {"round_id": round_id, "channel": "sms", "sure": sure, "other": other})
    return True


def first_messages(
    *, session: Session, round_id: int, skip_first_sms: bool = False
) -> list[tuple[int, str, Contact | None, str | None]]:
    """(check id, risk tier, contact, channel) for every check, by the one rule (contacts).

    ``skip_first_sms``: leave out the checks already in ``FIRST_SMS_TABLE`` (chosen in SQL).
    """
    conditions = [SafetyCheck.round_id == round_id, col(SafetyCheck.follows_check_id).is_(None)]
    if skip_first_sms:
        conditions.append(col(SafetyCheck.id).not_in(select(column("check_id")).select_from(table(FIRST_SMS_TABLE))))
    in_round = select(SafetyCheck.patient_id).where(*conditions)
    by_patient = contacts_of_patients(session=session, patient_ids=in_round)
    found = []
    # A check that follows an earlier round's conversation of the same incident is sent nothing (rounds.incidents).
    for check_id, patient_id, risk_tier in session.execute(
        select(SafetyCheck.id, SafetyCheck.patient_id, SafetyCheck.risk_tier).where(*conditions)
    ):
        chosen = choose(by_patient.get(patient_id, ()), "first")
        contact, channel = chosen[0] if chosen else (None, None)
        found.append((check_id, risk_tier, contact, channel))
    return found


def queue_first_messages(
    *,
    session: Session,
    round_id: int,
    drill: bool,
    now: datetime,
    template: str = INITIAL_TEMPLATE,
    budget_minutes: int = 0,
) -> tuple[int, int]:
    """Queue one message per check that has a usable contact; returns (queued, checks with none).

    A mobile gets the SMS, a landline-only patient a voice call (contacts.choose).
    """
    if session.get_bind().dialect.name == "postgresql":
        # Reading each patient's contacts sorts about two rows per patient: keep that in memory.
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    in_sql = choose_first_sms_in_sql(session=session, round_id=round_id)
    chosen: list[Queued] = []
    no_contact: list[int] = []
    for check_id, risk_tier, contact, channel in first_messages(
        session=session, round_id=round_id, skip_first_sms=in_sql
    ):
        if contact is None:
            no_contact.append(check_id)
        else:
            chosen.append(Queued(check_id, risk_tier, contact.id, channel, contact.address(channel)))
    queued = outbox_writer.queue(
        session=session,
        round_id=round_id,
        messages=chosen,
        template=template,
        drill=drill,
        now=now,
        budget_minutes=budget_minutes,
        chosen_in_sql=f"SELECT check_id, risk_tier, contact_id, channel, phone FROM {FIRST_SMS_TABLE}"
        if in_sql
        else None,
    )
    if in_sql:
        session.execute(text(f"DROP TABLE {FIRST_SMS_TABLE}"))  # a second round in the transaction makes its own
    for start in range(0, len(no_contact), CHUNK):
        session.execute(
            update(SafetyCheck)
            .where(col(SafetyCheck.id).in_(no_contact[start : start + CHUNK]))
            .values(state=CheckState.delivery_failed.value)
        )
    return queued, len(no_contact)


# A round this large changes the tables' size enough to mislead the planner until autovacuum
# next analyzes them (up to a minute): the board's lists went from 0.1 ms to 90 ms a query.
ANALYZE_AFTER = 5_000


def refresh_statistics(*, session: Session, added: int) -> None:
    """PostgreSQL: ANALYZE the round's tables in the creating transaction (it samples its own new rows)."""
    if added >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE safety_check, outbox_message"))
