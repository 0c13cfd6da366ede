"""The one writer of outbox rows: a round's first messages, failover and escalation steps all call ``queue``.

It sits beside ``contacts`` (the one choice of whom and by which channel), below every domain, so
that ``rounds`` (first messages, in the round's own transaction), ``outbox`` (failover) and
``escalation`` (its steps) use it without importing one another. What a row holds is decided here
only: the answer token and its hash, the priority from the risk tier, the template for SMS only,
state ``queued`` and due at once.

A 200,000-patient round must queue within seconds, so nothing loops in the ORM. On PostgreSQL a
large batch goes by COPY into a temporary table and one ``INSERT ... SELECT`` that draws each row's
token itself: 17 bytes from two ``gen_random_uuid()`` (pg_strong_random; 130 random bits, as a
UUID's version bits are fixed) in URL-safe base64 without padding, 23 characters; MATERIALIZED
keeps each token one value, so a row's token and its hash come from one draw. A small batch (a
failover, usually one row) takes its tokens from Python's ``secrets`` and goes by COPY directly:
a temporary table per status callback would only churn the catalog. SQLite (development) takes
the Python rows in batched executemany.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import insert, text
from sqlmodel import Session

from bcp_service.answer_tokens import hash_token, new_answer_token
from bcp_service.channels import CHANNELS
from bcp_service.models import OutboxMessage
from bcp_service.models.enums import RISK_TIER_ORDER, RiskTier
from bcp_service.models.outbox import MessageState

COLUMNS = (
    "round_id", "check_id", "contact_id", "channel", "to_number", "template", "drill", "answer_token",
    "answer_token_hash", "priority", "state", "attempts", "throttled", "next_attempt_at", "created_at",
)
PRIORITY = {tier.value: rank for tier, rank in RISK_TIER_ORDER.items()}
# Channels whose rows carry the message template (SMS); a call's prompt is its channel's own.
TEMPLATED = frozenset(name for name, channel in CHANNELS.items() if channel.uses_template)
TEMPLATED_SQL = ", ".join(f"'{name}'" for name in sorted(TEMPLATED))
DEFAULT_PRIORITY = PRIORITY[RiskTier.standard.value]
# From this many rows PostgreSQL draws the tokens itself (a round's first messages, a large
# escalation batch); below it the temporary table costs more than the Python tokens it saves.
DRAW_IN_SQL_FROM = 1000
CHUNK = 5000


class Queued(NamedTuple):
    """One message to queue: the check it belongs to and whom it reaches, as ``contacts.choose`` chose."""

    check_id: int
    risk_tier: str
    contact_id: int
    channel: str
    phone: str


def queue(*, session: Session, round_id: int, messages: Sequence[Queued], template: str | None, drill: bool,
          now: datetime, created_at: datetime | None = None) -> int:
    """Write one queued outbox row per message in the session's transaction; returns how many.

    ``template`` is the SMS text's template; a call's row has none (its prompt is the channel's). The rows
    are due at ``now``; ``created_at`` (default ``now``) is where their validity starts: a copy of a message
    the provider let expire in its queue (``outbox.overflow``) keeps the first copy's.
    """
    if not messages:
        return 0
    created_at = created_at or now
    if session.get_bind().dialect.name == "postgresql" and len(messages) >= DRAW_IN_SQL_FROM:
        _queue_drawing_in_sql(session, round_id=round_id, messages=messages, template=template, drill=drill, now=now,
                              created_at=created_at)
    else:
        _write_rows(session, (_row(round_id, message, template, drill, now, created_at) for message in messages))
    return len(messages)


def _row(round_id: int, message: Queued, template: str | None, drill: bool, now: datetime,
         created_at: datetime) -> tuple:
    token = new_answer_token()
    return (
        round_id, message.check_id, message.contact_id, message.channel, message.phone,
        template if message.channel in TEMPLATED else None, drill, token, hash_token(token),
        PRIORITY.get(message.risk_tier, DEFAULT_PRIORITY), MessageState.queued.value, 0, 0, now, created_at,
    )


CHOSEN_TABLE = ("CREATE TEMPORARY TABLE outbox_chosen (check_id int, risk_tier varchar(20), contact_id int, "
                "channel varchar(10), phone varchar(20)) ON COMMIT DROP")
PRIORITY_SQL = ("CASE risk_tier " + " ".join(f"WHEN '{tier}' THEN {rank}" for tier, rank in PRIORITY.items())
                + f" ELSE {DEFAULT_PRIORITY} END")
QUEUE_SQL = f"""
WITH drawn AS MATERIALIZED (
    SELECT check_id, risk_tier, contact_id, channel, phone,
           rtrim(translate(encode(uuid_send(gen_random_uuid()) || substring(uuid_send(gen_random_uuid()) FROM 1 FOR 1),
                                  'base64'), '+/', '-_'), '=') AS token
    FROM outbox_chosen
)
INSERT INTO outbox_message ({", ".join(COLUMNS)})
SELECT :round_id, check_id, contact_id, channel, phone, CASE WHEN channel IN ({TEMPLATED_SQL}) THEN :template END,
       :drill, token,
       encode(sha256(convert_to(token, 'UTF8')), 'hex'), {PRIORITY_SQL}, '{MessageState.queued.value}', 0, 0,
       :now, :created_at
FROM drawn
"""


def _queue_drawing_in_sql(session: Session, *, round_id: int, messages: Sequence[Queued], template: str | None,
                          drill: bool, now: datetime, created_at: datetime) -> None:
    session.execute(text(CHOSEN_TABLE))
    with session.connection().connection.driver_connection.cursor() as cursor:
        with cursor.copy("COPY outbox_chosen (check_id, risk_tier, contact_id, channel, phone) FROM STDIN") as copy:
            for message in messages:
                copy.write_row(message)
    session.execute(text(QUEUE_SQL), {"round_id": round_id, "drill": drill, "now": now, "created_at": created_at,
                                            "template": template})
    # Dropped now, not only at commit, so a second large batch in the same transaction can create it again.
    session.execute(text("DROP TABLE outbox_chosen"))


def _write_rows(session: Session, rows) -> None:
    """Bulk insert in the session's transaction: COPY on PostgreSQL, batched executemany elsewhere."""
    connection = session.connection()
    table = OutboxMessage.__table__
    if connection.dialect.name == "postgresql":
        with connection.connection.driver_connection.cursor() as cursor:
            with cursor.copy(f"COPY {table.name} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    batch: list[dict] = []
    for row in rows:
        batch.append(dict(zip(COLUMNS, row, strict=True)))
        if len(batch) >= CHUNK:
            connection.execute(insert(table), batch)
            batch = []
    if batch:
        connection.execute(insert(table), batch)
