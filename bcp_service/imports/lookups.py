"""Reference data an import resolves in memory (one query each, not one per row) and scope sets."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TypeVar

import psycopg
from sqlalchemy import Table, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bcp_service.auth.principal import Principal, municipality_scope
from bcp_service.auth.roles import Role
from bcp_service.models import Institution, Municipality

T = TypeVar("T")
# Stays well under SQLite's limit on bound parameters.
CHUNK = 500
# "#123": the record with internal id 123. The export writes this for records without an external
# id, so that an exported file always re-imports onto the same records.
INTERNAL_REF = re.compile(r"^#(\d{1,18})$")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def internal_id(ref: str) -> int | None:
    match = INTERNAL_REF.match(ref)
    return int(match.group(1)) if match else None


class Lookups:
    def __init__(self, session: Session) -> None:
        self.municipality_by_code: dict[str, int] = dict(
            session.execute(select(Municipality.code, Municipality.id)).all()
        )
        self.institution_kind: dict[int, str] = {}
        self.institution_by_external: dict[str, int] = {}
        for institution_id, external_id, kind in session.execute(
            select(Institution.id, Institution.external_id, Institution.kind)
        ):
            self.institution_kind[institution_id] = kind
            if external_id is not None:
                self.institution_by_external[external_id] = institution_id

    def institution(self, ref: str) -> tuple[int, str] | None:
        """(id, kind) of the institution with this external id, or with this ``#id``."""
        institution_id = self.institution_by_external.get(ref)
        if institution_id is None:
            institution_id = internal_id(ref)
        if institution_id is None or institution_id not in self.institution_kind:
            return None
        return institution_id, self.institution_kind[institution_id]


def allowed_municipalities(session: Session, principal: Principal | None) -> set[int] | None:
    """Municipalities the caller manages; None when there is no limit (admin, the CLI)."""
    if principal is None or principal.role == Role.admin:
        return None
    if principal.role in (Role.prefecture, Role.hub):
        return set(session.execute(select(Municipality.id).where(*municipality_scope(principal))).scalars())
    return set()


def rows_by(session: Session, table: Table, column: str, keys: Sequence[object]) -> list[dict]:
    found: list[dict] = []
    for part in chunks(list(keys)):
        found.extend(dict(row) for row in session.execute(select(table).where(table.c[column].in_(part))).mappings())
    return found


def insert_with_ids(
    session: Session, table: Table, rows: list[dict], key: str, *, within: dict | None = None
) -> list[int]:
    """Insert rows and return their new ids in order. PostgreSQL: ids drawn from the sequence first,
    so the rows go in by COPY with nothing to read back. Elsewhere: read back by ``key``, unique among
    the rows whose columns equal ``within`` (every row inserted has those values)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        ids = list(
            session.execute(
                text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
                {"table": table.name, "n": len(rows)},
            ).scalars()
        )
        bulk_insert(session, table, [dict(row, id=new_id) for row, new_id in zip(rows, ids, strict=True)])
        return ids
    bulk_insert(session, table, rows)
    id_of = {}
    for part in chunks([row[key] for row in rows]):
        conditions = [table.c[name] == value for name, value in (within or {}).items()]
        id_of.update(session.execute(select(table.c[key], table.c.id).where(table.c[key].in_(part), *conditions)).all())
    return [id_of[row[key]] for row in rows]


def bulk_insert(session: Session, table: Table, rows: list[dict]) -> None:
    """Insert many rows in the session's transaction. On PostgreSQL through COPY: an executemany
    runs one statement per row on the server, which at 10^5 rows is most of an import's time."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(table.insert(), rows)
        return
    names = list(rows[0])
    columns = ", ".join(connection.dialect.identifier_preparer.quote(name) for name in names)
    statement = f"COPY {table.name} ({columns}) FROM STDIN"
    try:
        with connection.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[name] for name in names])
    except psycopg.errors.IntegrityError as exc:
        # A concurrent import took the same external id: surface it as SQLAlchemy would (409 in the API).
        raise IntegrityError(statement, None, exc) from exc
