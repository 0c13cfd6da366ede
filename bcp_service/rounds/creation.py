"""Filling a new round: one check per patient and the first message of each, in set-based SQL.

A 200,000-patient round must be created and queued within seconds, so nothing here loops over
patients in the ORM: checks are ``INSERT ... SELECT``, and so are the outbox rows on PostgreSQL,
which draws each row's random token itself. On SQLite (development) the tokens come from Python's
``secrets`` and the rows go in by batched executemany; ``write_rows`` (COPY on PostgreSQL) also
serves the few rows added later (a next contact, an escalation step).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, DateTime, Integer, String, and_, func, insert, literal, select, text, update
from sqlmodel import Session, col

from bcp_service.models import HomeCareRegionMunicipality, OutboxMessage, Patient, PatientContact, SafetyCheck
from bcp_service.models.enums import RISK_TIER_ORDER, RiskTier
from bcp_service.models.outbox import MessageState
from bcp_service.models.rounds import CheckState
from bcp_service.rounds.messages import INITIAL_TEMPLATE, hash_token, new_answer_token

OUTBOX_COLUMNS = (
    "round_id", "check_id", "contact_id", "channel", "to_number", "template", "drill", "answer_token",
    "answer_token_hash", "priority", "state", "attempts", "throttled", "next_attempt_at", "created_at",
)
PRIORITY = {tier.value: rank for tier, rank in RISK_TIER_ORDER.items()}
CHUNK = 5000


def insert_checks(*, session: Session, round_id: int, conditions: Sequence[ColumnElement[bool]], now: datetime) -> None:
    # A municipality may sit in several home-care regions; the board files it under the first.
    region = (
        select(HomeCareRegionMunicipality.municipality_id, func.min(HomeCareRegionMunicipality.region_id).label("region_id"))
        .group_by(HomeCareRegionMunicipality.municipality_id)
        .subquery()
    )
    source = (
        select(
            literal(round_id, Integer), Patient.id, Patient.risk_tier, Patient.municipality_id, region.c.region_id,
            Patient.hub_id, literal(CheckState.no_answer.value, String), literal(0, Integer),
            literal(now, DateTime(timezone=True)),
        )
        .select_from(Patient)
        .outerjoin(region, region.c.municipality_id == Patient.municipality_id)
        .where(*conditions)
    )
    columns = ["round_id", "patient_id", "risk_tier", "municipality_id", "region_id", "hub_id", "state",
               "escalation_step", "created_at"]
    session.execute(insert(SafetyCheck.__table__).from_select(columns, source))


def first_contacts(*, session: Session, round_id: int) -> list[tuple[int, str, int | None, str | None]]:
    """(check id, risk tier, contact id, phone) for every check; the contact is the first usable one."""
    in_round = select(SafetyCheck.patient_id).where(SafetyCheck.round_id == round_id)
    ranked = (
        select(
            PatientContact.id, PatientContact.patient_id, PatientContact.phone,
            func.row_number().over(
                partition_by=PatientContact.patient_id, order_by=(PatientContact.position, PatientContact.id)
            ).label("rn"),
        )
        .where(
            col(PatientContact.bad_since).is_(None), PatientContact.preferred_channel == "sms",
            col(PatientContact.patient_id).in_(in_round),
        )
        .subquery()
    )
    rows = session.execute(
        select(SafetyCheck.id, SafetyCheck.risk_tier, ranked.c.id, ranked.c.phone)
        .outerjoin(ranked, and_(ranked.c.patient_id == SafetyCheck.patient_id, ranked.c.rn == 1))
        .where(SafetyCheck.round_id == round_id)
    )
    return [tuple(row) for row in rows]


def outbox_row(*, round_id: int, check_id: int, contact_id: int | None, phone: str, risk_tier: str,
               drill: bool, now: datetime, template: str = INITIAL_TEMPLATE) -> tuple:
    token = new_answer_token()
    return (
        round_id, check_id, contact_id, "sms", phone, template, drill, token, hash_token(token),
        PRIORITY.get(risk_tier, PRIORITY[RiskTier.standard.value]), MessageState.queued.value, 0, 0, now, now,
    )


# PostgreSQL makes the tokens itself: 17 bytes from two gen_random_uuid() (pg_strong_random; 130
# random bits, as a UUID's version bits are fixed) in URL-safe base64 without padding, 23
# characters. MATERIALIZED keeps each token one value: a row's token and its hash come from one draw.
QUEUE_SQL = """
WITH first_contact AS (
    SELECT DISTINCT ON (pc.patient_id) pc.patient_id, pc.id AS contact_id, pc.phone
    FROM patient_contact pc
    WHERE pc.bad_since IS NULL AND pc.preferred_channel = 'sms'
      AND pc.patient_id IN (SELECT patient_id FROM safety_check WHERE round_id = :round_id)
    ORDER BY pc.patient_id, pc.position, pc.id
), drawn AS MATERIALIZED (
    SELECT c.id AS check_id, c.risk_tier, f.contact_id, f.phone,
           rtrim(translate(encode(uuid_send(gen_random_uuid()) || substring(uuid_send(gen_random_uuid()) FROM 1 FOR 1),
                                  'base64'), '+/', '-_'), '=') AS token
    FROM safety_check c JOIN first_contact f ON f.patient_id = c.patient_id
    WHERE c.round_id = :round_id
)
INSERT INTO outbox_message (round_id, check_id, contact_id, channel, to_number, template, drill, answer_token,
                            answer_token_hash, priority, state, attempts, throttled, next_attempt_at, created_at)
SELECT :round_id, check_id, contact_id, 'sms', phone, :template, :drill, token,
       encode(sha256(convert_to(token, 'UTF8')), 'hex'),
       CASE risk_tier WHEN 'critical' THEN 0 WHEN 'high' THEN 1 ELSE 2 END, 'queued', 0, 0, :now, :now
FROM drawn
"""
# NOT IN over the round's own new messages is a hashed subplan whatever the (stale, right after an
# import) statistics say; a correlated NOT EXISTS was planned as a nested loop and took seconds.
NO_CONTACT_SQL = """
UPDATE safety_check SET state = 'delivery_failed'
WHERE round_id = :round_id AND id NOT IN (
    SELECT check_id FROM outbox_message WHERE round_id = :round_id AND check_id IS NOT NULL)
"""


def queue_first_messages(*, session: Session, round_id: int, drill: bool, now: datetime,
                         template: str = INITIAL_TEMPLATE) -> tuple[int, int]:
    """Queue one message per check that has a usable contact; returns (queued, checks with none)."""
    if session.get_bind().dialect.name == "postgresql":
        params = {"round_id": round_id, "drill": drill, "now": now, "template": template}
        # Picking each patient's first contact sorts about two rows per patient: keep that in memory.
        session.execute(text("SET LOCAL work_mem = '64MB'"))
        queued = session.execute(text(QUEUE_SQL), params).rowcount
        no_contact = session.execute(text(NO_CONTACT_SQL), {"round_id": round_id}).rowcount
        return queued, no_contact
    rows: list[tuple] = []
    no_contact: list[int] = []
    for check_id, risk_tier, contact_id, phone in first_contacts(session=session, round_id=round_id):
        if contact_id is None:
            no_contact.append(check_id)
            continue
        rows.append(outbox_row(round_id=round_id, check_id=check_id, contact_id=contact_id, phone=phone,
                               risk_tier=risk_tier, drill=drill, now=now, template=template))
    write_rows(session=session, table=OutboxMessage.__table__, columns=OUTBOX_COLUMNS, rows=rows)
    for start in range(0, len(no_contact), CHUNK):
        session.execute(
            update(SafetyCheck)
            .where(col(SafetyCheck.id).in_(no_contact[start:start + CHUNK]))
            .values(state=CheckState.delivery_failed.value)
        )
    return len(rows), len(no_contact)


def write_rows(*, session: Session, table, columns: Sequence[str], rows: Iterable[tuple]) -> None:
    """Bulk insert in the session's transaction: COPY on PostgreSQL, executemany elsewhere."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        driver = connection.connection.driver_connection
        with driver.cursor() as cursor:
            with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    batch: list[dict] = []
    for row in rows:
        batch.append(dict(zip(columns, row, strict=True)))
        if len(batch) >= CHUNK:
            connection.execute(insert(table), batch)
            batch = []
    if batch:
        connection.execute(insert(table), batch)


# A round this large changes the tables' size enough to mislead the planner until autovacuum
# next analyzes them (up to a minute): the board's lists went from 0.1 ms to 90 ms a query.
ANALYZE_AFTER = 5_000


def refresh_statistics(*, session: Session, added: int) -> None:
    """PostgreSQL: ANALYZE the round's tables in the creating transaction (it samples its own new rows)."""
    if added >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE safety_check, outbox_message"))
