"""Per-round counters: checks by state for every grouping the board shows.

They are written once when a round starts (one GROUP BY over its checks) and then moved by each
state change in the same transaction as the change, so reading the board never scans checks.
Rows are always updated in sorted key order: two transactions moving the same counters then take
their row locks in the same order and cannot deadlock. Each counter is spread over ``SHARDS`` rows:
a writer moves the shard of its own thread, so concurrent writers (the processes' group commits,
workers, the scheduler) rarely wait for each other; a count is the sum of its shards.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import String, cast, func, literal, literal_column, select, union_all
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from bcp_service.models import RoundCounter, SafetyCheck

# (dimension, column copied onto the check at start)
DIMENSIONS = (
    ("all", None),
    ("risk_tier", SafetyCheck.risk_tier),
    ("region", SafetyCheck.region_id),
    ("municipality", SafetyCheck.municipality_id),
    ("hub", SafetyCheck.hub_id),
)


@dataclass(frozen=True)
class CheckKeys:
    """What a check is grouped by; enough to move its counters without reading it again."""

    round_id: int
    risk_tier: str
    region_id: int | None
    municipality_id: int | None
    hub_id: int | None

    @classmethod
    def of(cls, check: SafetyCheck) -> CheckKeys:
        return cls(check.round_id, check.risk_tier, check.region_id, check.municipality_id, check.hub_id)

    def keys(self) -> list[tuple[str, str]]:
        return [
            ("all", ""),
            ("risk_tier", self.risk_tier),
            ("region", _key(self.region_id)),
            ("municipality", _key(self.municipality_id)),
            ("hub", _key(self.hub_id)),
        ]


def _key_expression(column):
    # Literal SQL, not bound parameters: PostgreSQL must see the same expression in SELECT and GROUP BY.
    if column is None:
        return literal_column("''")
    return func.coalesce(cast(column, String), literal_column("''"))


def _key(value: object) -> str:
    return "" if value is None else str(value)


def initialise_counters(*, session: Session, round_id: int) -> None:
    parts = []
    for dimension, column in DIMENSIONS:
        key = _key_expression(column)
        grouping = [SafetyCheck.state] if column is None else [key, SafetyCheck.state]
        parts.append(
            select(
                literal(round_id).label("round_id"),
                literal(dimension).label("dimension"),
                key.label("key"),
                SafetyCheck.state,
                func.count().label("count"),
            )
            .where(SafetyCheck.round_id == round_id)
            .group_by(*grouping)
        )
    columns = ["round_id", "dimension", "key", "state", "count"]
    session.execute(RoundCounter.__table__.insert().from_select(columns, union_all(*parts), include_defaults=False))


DEFERRED = "counter_moves"
SHARDS = 16


def shard() -> int:
    """This thread's shard: stable for a writer, different (mostly) from the others'."""
    return (os.getpid() * 7919 + threading.get_native_id()) % SHARDS


@contextmanager
def deferred(session: Session) -> Iterator[None]:
    """Collect the counter moves of a unit of work and apply them together at its end.

    Every answer to a round moves the same few counter rows, and each writer holds their row
    locks from its first move to its commit. Moved last, just before the commit, they are held
    for one statement and the commit instead of for the whole unit of work.
    """
    if DEFERRED in session.info:  # already collecting: the outer unit applies them
        yield
        return
    session.info[DEFERRED] = []
    try:
        yield
        moves = session.info.pop(DEFERRED)
        move_counters(session=session, moves=moves)
    finally:
        session.info.pop(DEFERRED, None)


def move_counters(*, session: Session, moves: Iterable[tuple[CheckKeys, str, str]]) -> None:
    """Apply state changes (keys, old state, new state) to the counters (or collect them: ``deferred``).

    One upsert statement, built once and sent with all the rows in one call, rather than a new
    statement per counter: building and compiling ten statements per answer was half the CPU of
    recording an SMS reply, and the counter rows stay locked from the first of them to the commit,
    so every extra round trip lengthened the time all other answers to the round wait
    (load_tests/RESULTS.md, "Disaster burst"). Rows go in sorted key order, the order they are locked in.
    """
    collecting = session.info.get(DEFERRED)
    if collecting is not None:
        collecting.extend(moves)
        return
    deltas: Counter[tuple[int, str, str, str]] = Counter()
    for keys, old, new in moves:
        if old == new:
            continue
        for dimension, key in keys.keys():  # noqa: SIM118 (CheckKeys.keys(), not a dict)
            deltas[(keys.round_id, dimension, key, old)] -= 1
            deltas[(keys.round_id, dimension, key, new)] += 1
    mine = shard()
    rows = [
        {"round_id": round_id, "dimension": dimension, "key": key, "state": state, "shard": mine, "count": delta}
        for (round_id, dimension, key, state), delta in sorted(deltas.items())
        if delta
    ]
    if rows:
        session.execute(_upsert(session.get_bind().dialect.name), rows)


_UPSERTS: dict[str, object] = {}


def _upsert(dialect: str):
    """``count = count + delta``, inserting the row when the state has none yet (cached per dialect).

    A decrement may find no row in this shard (another writer counted the check in): it inserts
    a negative count there, and the sum over shards is right.
    """
    statement = _UPSERTS.get(dialect)
    if statement is None:
        table = RoundCounter.__table__
        insert = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
        statement = _UPSERTS[dialect] = insert.on_conflict_do_update(
            index_elements=["round_id", "dimension", "key", "state", "shard"],
            set_={"count": table.c.count + insert.excluded["count"]},
        )
    return statement


def read_counters(
    *, session: Session, round_id: int, dimension: str | None = None
) -> dict[str, dict[str, dict[str, int]]]:
    """{dimension: {key: {state: count}}}, summed over shards, zero counts left out."""
    result: dict[str, dict[str, dict[str, int]]] = {}
    total = func.sum(RoundCounter.count)
    query = (
        select(RoundCounter.dimension, RoundCounter.key, RoundCounter.state, total)
        .where(RoundCounter.round_id == round_id)
        .group_by(RoundCounter.dimension, RoundCounter.key, RoundCounter.state)
        .having(total != 0)
    )
    if dimension is not None:
        query = query.where(RoundCounter.dimension == dimension)
    for dim, key, state, count in session.execute(query):
        result.setdefault(dim, {}).setdefault(key, {})[state] = int(count)
    return result


def recount(*, session: Session, round_id: int, scope=()) -> dict[str, dict[str, dict[str, int]]]:
    """The counters as a full scan would give them: for tests, a repair command, and a scoped reader
    (``scope``: conditions on Patient, so only the checks of the reader's patients are counted)."""
    from bcp_service.models import Patient

    result: dict[str, dict[str, dict[str, int]]] = {}
    for dimension, column in DIMENSIONS:
        key = _key_expression(column)
        grouping = [SafetyCheck.state] if column is None else [key, SafetyCheck.state]
        query = select(key, SafetyCheck.state, func.count()).where(SafetyCheck.round_id == round_id)
        if scope:
            query = query.join(Patient, Patient.id == SafetyCheck.patient_id).where(*scope)
        rows = session.execute(query.group_by(*grouping))
        for k, state, count in rows:
            result.setdefault(dimension, {}).setdefault(k, {})[state] = count
    return result
