"""The audit log's hash chain: every row carries sha256(previous row's hash + its canonical fields).

``append`` is the one writer of ``audit_event`` rows (``service.record`` for one event with an
account, ``answers.service.audit_answers`` for a batch of public answers). It takes the chain's lock
first (PostgreSQL: a transaction-level advisory lock taken by ``audit_chain_head()``; SQLite: the
database write lock, which every writer already serialises on), reads the last hash (one index
lookup) and inserts the rows with their hashes in one statement. The lock is held until the transaction ends, so the next writer reads a
committed last row: the chain follows ``id`` order and never forks. A rolled-back writer leaves a
gap in ``id`` and none in the chain.

What is hashed (``canonical``): the time (UTC, microseconds), account id, name and role, action,
resource, patient count, address, detail, changes, and the sorted patient ids of
``audit_event_patient``, so a changed or removed patient link breaks the chain too. ``id`` is not
hashed (it is allocated by the insert); reordering rows breaks the links instead.

Genesis: the first row written after alembic 0019 chains to ``GENESIS`` (64 zeros). Older rows keep
``chain_hash`` NULL and are counted, not verified. ``verify`` walks the whole table by ``id`` and
returns the first row whose stored hash differs from the recomputed one (or that has none after the
chain began). Deleting the newest rows cannot be seen from inside the chain: keep the last hash
``verify`` prints somewhere else (a daily line in the operations log) to pin it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, text
from sqlmodel import Session

from bcp_service.locking import take_write_lock
from bcp_service.models import AuditEvent, AuditEventPatient

GENESIS = "0" * 64
LOCK_KEY = 168630212  # pg_advisory_xact_lock key of the audit chain (also in alembic 0019's audit_chain_head())
HASHED = ("at", "user_id", "username", "role", "action", "resource", "patient_count", "address", "detail", "changes")
_events = AuditEvent.__table__
_insert_events = insert(_events).returning(_events.c.id, sort_by_parameter_order=True)


def _time(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: dict, patient_ids: Sequence[int]) -> bytes:
    fields = {name: row.get(name) for name in HASHED}
    fields["at"] = _time(row["at"])
    fields["patient_ids"] = sorted(patient_ids)
    return json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode()


def link(previous: str, row: dict, patient_ids: Sequence[int]) -> str:
    return hashlib.sha256(previous.encode() + b"\n" + canonical(row, patient_ids)).hexdigest()


def last_hash(session: Session) -> str:
    found = session.execute(
        select(_events.c.chain_hash).where(_events.c.chain_hash.is_not(None)).order_by(_events.c.id.desc()).limit(1)
    ).scalar()
    return found or GENESIS


def _locked_head(session: Session) -> str:
    """Take the chain's lock, then read its head. PostgreSQL: one call of ``audit_chain_head()`` (alembic
    0019), whose second statement has a snapshot newer than the lock; SQLite: the database write lock."""
    if session.get_bind().dialect.name == "postgresql":
        return session.execute(text("SELECT audit_chain_head()")).scalar() or GENESIS
    take_write_lock(session)
    return last_hash(session)


def append(session: Session, rows: list[dict], patient_ids: list[Sequence[int]]) -> list[int]:
    """Insert ``rows`` (``AuditEvent`` columns, ``at`` set) with their patient links, chained; their ids."""
    if not rows:
        return []
    session.flush()  # the session's own pending rows first: nothing of it may land after the lock's read
    previous = _locked_head(session)
    chained = []
    for row, ids in zip(rows, patient_ids, strict=True):
        previous = link(previous, row, ids)
        chained.append({name: row.get(name) for name in HASHED} | {"chain_hash": previous})
    event_ids = [r[0] for r in session.execute(_insert_events, chained)]
    links = [
        {"event_id": e, "patient_id": p}
        for e, ids in zip(event_ids, patient_ids, strict=True)
        for p in sorted(set(ids))
    ]
    if links:
        session.execute(insert(AuditEventPatient), links)
    return event_ids


@dataclass
class Verdict:
    checked: int  # rows whose hash was recomputed
    before_chain: int  # rows older than the chain (NULL hash before the first hashed row)
    broken_id: int | None  # the first row that does not match, if any
    reason: str | None
    last_hash: str

    @property
    def ok(self) -> bool:
        return self.broken_id is None


def verify(session: Session, *, batch: int = 5000) -> Verdict:
    """Walk ``audit_event`` by id and recompute every link; stop at the first broken one."""
    previous, started, checked, before, after = GENESIS, False, 0, 0, 0
    columns = [_events.c.id, _events.c.chain_hash, *(_events.c[name] for name in HASHED)]
    while True:
        rows = session.execute(select(*columns).where(_events.c.id > after).order_by(_events.c.id).limit(batch)).all()
        if not rows:
            return Verdict(checked, before, None, None, previous)
        first, last = rows[0].id, rows[-1].id
        ids: dict[int, list[int]] = {}
        for event_id, patient_id in session.execute(
            select(AuditEventPatient.event_id, AuditEventPatient.patient_id).where(
                AuditEventPatient.event_id >= first, AuditEventPatient.event_id <= last
            )
        ):
            ids.setdefault(event_id, []).append(patient_id)
        for row in rows:
            values = row._mapping
            if values["chain_hash"] is None:
                if started:
                    return Verdict(checked, before, row.id, "missing", previous)
                before += 1
                continue
            started = True
            expected = link(previous, dict(values), ids.get(row.id, []))
            if expected != values["chain_hash"]:
                return Verdict(checked, before, row.id, "mismatch", previous)
            previous, checked = expected, checked + 1
        after = last
