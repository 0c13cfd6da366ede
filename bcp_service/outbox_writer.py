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
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Integer, String, bindparam, column, func, insert, select, text, update
from sqlmodel import Session

from bcp_service.answer_tokens import hash_token, new_answer_token
from bcp_service.channels import CHANNELS
from bcp_service.clock import aware
from bcp_service.models import OutboxMessage, SafetyCheck
from bcp_service.models.enums import RISK_TIER_ORDER, RiskTier
from bcp_service.models.outbox import MessageState

COLUMNS = (
    "round_id",
    "check_id",
    "contact_id",
    "channel",
    "to_number",
    "template",
    "drill",
    "answer_token",
    "answer_token_hash",
    "priority",
    "state",
    "attempts",
    "throttled",
    "next_attempt_at",
    "created_at",
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
    phone: str  # the channel's address (``Contact.address``): E.164, or an e-mail address


def queue(
    *,
    session: Session,
    round_id: int,
    messages: Sequence[Queued],
    template: str | None,
    drill: bool,
    now: datetime,
    created_at: datetime | None = None,
    budget_minutes: int = 0,
    exempt_critical: bool = False,
    chosen_in_sql: str | None = None,
) -> int:
    """Write one queued outbox row per message in the session's transaction; returns how many.

    ``template`` is the SMS text's template; a call's row has none (its prompt is the channel's). The rows
    are due at ``now``; ``created_at`` (default ``now``) is where their validity starts: a copy of a message
    the provider let expire in its queue (``outbox.overflow``) keeps the first copy's.

    ``budget_minutes`` (the contact budget, ``settings.contact_budget_minutes``): a phone already sent an
    SMS (or a call) due within that many minutes by another round gets this one that long after the last
    instead of now. ``exempt_critical``: critical-tier rows are due now regardless (their escalation).

    ``chosen_in_sql`` (PostgreSQL only): a SELECT of (check_id, risk_tier, contact_id, channel, phone) whose
    rows are queued as if they were in ``messages`` (a round's common case, chosen in SQL by rounds.creation).
    """
    if not messages and chosen_in_sql is None:
        return 0
    created_at = created_at or now
    before = None
    if budget_minutes > 0:
        before = session.execute(select(func.coalesce(func.max(OutboxMessage.id), 0))).scalar_one()
    postgresql = session.get_bind().dialect.name == "postgresql"
    if chosen_in_sql is not None and not postgresql:
        raise ValueError("chosen_in_sql needs PostgreSQL")
    written = len(messages)
    if postgresql and (len(messages) >= DRAW_IN_SQL_FROM or chosen_in_sql is not None):
        written = _queue_drawing_in_sql(
            session,
            round_id=round_id,
            messages=messages,
            template=template,
            drill=drill,
            now=now,
            created_at=created_at,
            chosen_in_sql=chosen_in_sql,
        )
    else:
        _write_rows(session, (_row(round_id, message, template, drill, now, created_at) for message in messages))
    if before is not None:
        _hold_to_budget(
            session,
            round_id=round_id,
            messages=messages,
            before=before,
            now=now,
            spacing=timedelta(minutes=budget_minutes),
            exempt_critical=exempt_critical,
            chosen_in_sql=chosen_in_sql,
        )
    return written


def _row(
    round_id: int, message: Queued, template: str | None, drill: bool, now: datetime, created_at: datetime
) -> tuple:
    token = new_answer_token()
    return (
        round_id,
        message.check_id,
        message.contact_id,
        message.channel,
        message.phone,
        template if message.channel in TEMPLATED else None,
        drill,
        token,
        hash_token(token),
        PRIORITY.get(message.risk_tier, DEFAULT_PRIORITY),
        MessageState.queued.value,
        0,
        0,
        now,
        created_at,
    )


CHOSEN_TABLE = (
    "CREATE TEMPORARY TABLE outbox_chosen (check_id int, risk_tier varchar(20), contact_id int, "
    "channel varchar(10), phone varchar(20)) ON COMMIT DROP"
)
PRIORITY_SQL = (
    "CASE risk_tier "
    + " ".join(f"WHEN '{tier}' THEN {rank}" for tier, rank in PRIORITY.items())
    + f" ELSE {DEFAULT_PRIORITY} END"
)
CHOSEN_SQL = "SELECT check_id, risk_tier, contact_id, channel, phone FROM outbox_chosen"
QUEUE_SQL = f"""
WITH drawn AS MATERIALIZED (
    SELECT check_id, risk_tier, contact_id, channel, phone,
           rtrim(translate(encode(uuid_send(gen_random_uuid()) || substring(uuid_send(gen_random_uuid()) FROM 1 FOR 1),
                                  'base64'), '+/', '-_'), '=') AS token
    FROM ({{source}}) AS chosen
)
INSERT INTO outbox_message ({", ".join(COLUMNS)})
SELECT :round_id, check_id, contact_id, channel, phone, CASE WHEN channel IN ({TEMPLATED_SQL}) THEN :template END,
       :drill, token,
       encode(sha256(convert_to(token, 'UTF8')), 'hex'), {PRIORITY_SQL}, '{MessageState.queued.value}', 0, 0,
       :now, :created_at
FROM drawn
"""


def _queue_drawing_in_sql(
    session: Session,
    *,
    round_id: int,
    messages: Sequence[Queued],
    template: str | None,
    drill: bool,
    now: datetime,
    created_at: datetime,
    chosen_in_sql: str | None = None,
) -> int:
    session.execute(text(CHOSEN_TABLE))
    if messages:
        with (
            session.connection().connection.driver_connection.cursor() as cursor,
            cursor.copy("COPY outbox_chosen (check_id, risk_tier, contact_id, channel, phone) FROM STDIN") as copy,
        ):
            for message in messages:
                copy.write_row(message)
    source = CHOSEN_SQL if chosen_in_sql is None else f"{CHOSEN_SQL} UNION ALL {chosen_in_sql}"
    written = session.execute(
        text(QUEUE_SQL.replace("{source}", source)),
        {"round_id": round_id, "drill": drill, "now": now, "created_at": created_at, "template": template},
    ).rowcount
    # Dropped now, not only at commit, so a second large batch in the same transaction can create it again.
    session.execute(text("DROP TABLE outbox_chosen"))
    return written


def _write_rows(session: Session, rows) -> None:
    """Bulk insert in the session's transaction: COPY on PostgreSQL, batched executemany elsewhere."""
    connection = session.connection()
    table = OutboxMessage.__table__
    if connection.dialect.name == "postgresql":
        with (
            connection.connection.driver_connection.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({', '.join(COLUMNS)}) FROM STDIN") as copy,
        ):
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


def _hold_to_budget(
    session: Session,
    *,
    round_id: int,
    messages: Sequence[Queued],
    before: int,
    now: datetime,
    spacing: timedelta,
    exempt_critical: bool,
    chosen_in_sql: str | None = None,
) -> None:
    """Move the new rows to a phone contacted within ``spacing`` (any round) to that long after its last contact.

    The budget is per phone (the person who picks it up: a family member's phone has its own), among
    the messages of the same patient's checks in every round. The read follows indexes only (the
    checks' patient, the outbox's check) and finds nothing for most people; only rows found are moved.
    The rows chosen in SQL (``chosen_in_sql``) are read and moved by one statement each, not by their ids.
    """
    outbox = OutboxMessage.__table__
    checks = SafetyCheck.__table__
    mine, other = checks.alias("mine"), checks.alias("other")
    budgeted = [m for m in messages if not (exempt_critical and m.risk_tier == RiskTier.critical.value)]
    check_ids = sorted({m.check_id for m in budgeted})
    batches = [mine.c.id.in_(check_ids[start : start + CHUNK]) for start in range(0, len(check_ids), CHUNK)]
    in_sql = None
    if chosen_in_sql is not None:
        chosen = (
            text(chosen_in_sql)
            .columns(
                column("check_id", Integer),
                column("risk_tier", String),
                column("contact_id", Integer),
                column("channel", String),
                column("phone", String),
            )
            .subquery("chosen")
        )
        in_sql = select(chosen.c.check_id)
        if exempt_critical:
            in_sql = in_sql.where(chosen.c.risk_tier != RiskTier.critical.value)
        batches.append(mine.c.id.in_(in_sql))
    recent: dict[tuple[str, str], datetime] = {}
    for batch in batches:
        for phone, channel, last in session.execute(
            select(outbox.c.to_number, outbox.c.channel, func.max(outbox.c.next_attempt_at))
            .select_from(
                mine.join(other, other.c.patient_id == mine.c.patient_id).join(outbox, outbox.c.check_id == other.c.id)
            )
            # Other rounds only: within a round its escalation policy already spaces the steps.
            .where(
                batch,
                outbox.c.id <= before,
                outbox.c.round_id != round_id,
                outbox.c.next_attempt_at > now - spacing,
                outbox.c.state != MessageState.cancelled.value,
            )
            .group_by(outbox.c.to_number, outbox.c.channel)
        ):
            key = (phone, channel)  # one message per channel per window (an SMS and a call)
            recent[key] = max(recent.get(key, aware(last)), aware(last))
    if in_sql is not None and recent:  # rare (a phone contacted minutes ago): read the rows chosen in SQL too
        budgeted += [Queued(*row) for row in session.execute(select(chosen.c).where(chosen.c.check_id.in_(in_sql)))]
    moves = {}
    for message in budgeted:
        last = recent.get((message.phone, message.channel))
        if last is not None:
            moves[(message.check_id, message.channel, message.phone)] = max(now, last + spacing)
    if moves:
        session.execute(
            update(outbox)
            .where(
                outbox.c.id > before,
                outbox.c.round_id == round_id,
                outbox.c.check_id == bindparam("b_check"),
                outbox.c.channel == bindparam("b_channel"),
                outbox.c.to_number == bindparam("b_phone"),
            )
            .values(next_attempt_at=bindparam("b_due")),
            [{"b_check": c, "b_channel": ch, "b_phone": p, "b_due": due} for (c, ch, p), due in moves.items()],
        )
