"""The one outbox writer: what a queued row holds, on both engines and on both of its paths."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import col, select

from bcp_service import outbox_writer
from bcp_service.answer_tokens import hash_token
from bcp_service.models import OutboxMessage
from bcp_service.outbox_writer import DRAW_IN_SQL_FROM, Queued

NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
ROUND = 990_001  # outbox rows carry no foreign keys (round-start cost): no round needed here


def rows_of(session, round_id=ROUND):
    return session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.round_id == round_id)
        .order_by(col(OutboxMessage.check_id), col(OutboxMessage.channel))
    ).all()


def assert_well_formed(rows):
    assert all(row.answer_token and len(row.answer_token) >= 22 for row in rows)
    assert all(row.answer_token_hash == hash_token(row.answer_token) for row in rows)
    assert len({row.answer_token for row in rows}) == len(rows)
    assert {row.state for row in rows} == {"queued"}
    assert all(row.attempts == 0 and row.throttled == 0 and row.next_attempt_at == NOW for row in rows)


def test_a_few_messages_get_tokens_priorities_and_the_sms_template(session):
    queued = outbox_writer.queue(
        session=session,
        round_id=ROUND,
        template="check_reminder",
        drill=True,
        now=NOW,
        messages=[
            Queued(1, "critical", 11, "sms", "+819011110001"),
            Queued(2, "high", 12, "voice", "+81311110002"),
            Queued(3, "standard", 13, "sms", "+819011110003"),
            Queued(4, "unknown-tier", 14, "sms", "+819011110004"),
        ],
    )
    assert queued == 4
    rows = rows_of(session)
    assert [(r.check_id, r.contact_id, r.channel, r.to_number) for r in rows] == [
        (1, 11, "sms", "+819011110001"),
        (2, 12, "voice", "+81311110002"),
        (3, 13, "sms", "+819011110003"),
        (4, 14, "sms", "+819011110004"),
    ]
    assert [r.priority for r in rows] == [0, 1, 2, 2]
    assert [r.template for r in rows] == ["check_reminder", None, "check_reminder", "check_reminder"]
    assert all(r.drill for r in rows)
    assert_well_formed(rows)


def test_nothing_to_queue_writes_nothing(session):
    assert (
        outbox_writer.queue(
            session=session, round_id=ROUND, messages=[], template="check_initial", drill=False, now=NOW
        )
        == 0
    )
    assert rows_of(session) == []


def test_a_large_batch_holds_the_same_rows(session):
    # On PostgreSQL this batch draws its tokens in SQL (23 characters); elsewhere Python's (22).
    tiers = ("critical", "high", "standard")
    messages = [
        Queued(n, tiers[n % 3], 100_000 + n, "voice" if n % 10 == 0 else "sms", f"+8190{n:08d}")
        for n in range(1, DRAW_IN_SQL_FROM + 2)
    ]
    for round_id in (ROUND, ROUND + 1):  # twice in one transaction: the PostgreSQL path cleans up after itself
        assert outbox_writer.queue(
            session=session, round_id=round_id, messages=messages, template="check_initial", drill=False, now=NOW
        ) == len(messages)
    rows = rows_of(session)
    assert len(rows) == len(messages)
    assert_well_formed(rows + rows_of(session, ROUND + 1))
    by_check = {row.check_id: row for row in rows}
    for message in messages:
        row = by_check[message.check_id]
        assert (row.contact_id, row.channel, row.to_number) == (message.contact_id, message.channel, message.phone)
        assert row.priority == tiers.index(message.risk_tier)
        assert row.template == (None if message.channel == "voice" else "check_initial")
        assert not row.drill
    if session.get_bind().dialect.name == "postgresql":
        assert {len(row.answer_token) for row in rows} == {23}


def test_only_the_writer_inserts_outbox_rows():
    """First messages, failover and escalation all queue through outbox_writer (issue 14)."""
    package = Path(outbox_writer.__file__).parent
    writes = re.compile(
        r"OutboxMessage\(|insert\(OutboxMessage|INSERT INTO outbox_message|COPY outbox_message", re.IGNORECASE
    )
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "outbox_writer.py"
        and "models" not in path.parts
        and writes.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
