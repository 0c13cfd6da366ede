"""The audit trail no one can rewrite (issue 23.3): the hash chain, ``audit verify``, REPLACE on SQLite,
and the service's PostgreSQL role that may only INSERT and SELECT the audit tables."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from bcp_service import migrations
from bcp_service.audit import chain
from bcp_service.audit.service import record
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.cli import app as cli
from bcp_service.config import get_settings
from bcp_service.db import make_engine, make_session_factory, unit_of_work
from bcp_service.models import AuditEvent
from tests.auth.test_audit_integrity import STATEMENTS
from tests.dbutil import wipe_database

SOMEONE = Principal(user_id=7, username="hub-x", role=Role.hub, scope_id=1)


def _record_some(session, n: int = 3) -> list[int]:
    return [
        record(
            session=session,
            principal=SOMEONE,
            action="patient.read",
            patient_ids=[100 + i, 200 + i],
            detail=f"round {i}",
            changes=[{"field": "status", "old": "在宅", "new": "入院"}],
        ).id
        for i in range(n)
    ]


def test_each_row_chains_to_the_previous_and_verify_passes(session):
    ids = _record_some(session)
    rows = [session.get(AuditEvent, i) for i in ids]
    assert all(r.chain_hash and len(r.chain_hash) == 64 for r in rows)
    assert len({r.chain_hash for r in rows}) == 3
    verdict = chain.verify(session)
    assert verdict.ok and verdict.checked >= 3 and verdict.last_hash == rows[-1].chain_hash


def _tamper(session, statement: str, **params) -> None:
    """Change a row as the superuser / with the triggers out of the way, as an attacker with full rights would."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL session_replication_role = replica"))  # triggers off for this transaction
        for part in statement.split("; "):
            session.execute(text(part), params)
        session.execute(text("SET LOCAL session_replication_role = origin"))
        return
    names = [
        r[0]
        for r in session.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name LIKE 'audit%'")
        )
    ]
    sql = {n: session.execute(text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": n}).scalar() for n in names}
    for name in names:
        session.execute(text(f"DROP TRIGGER {name}"))
    for part in statement.split("; "):
        session.execute(text(part), params)
    for name in names:
        session.execute(text(sql[name]))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET username = 'someone-else' WHERE id = :id",
        "UPDATE audit_event SET changes = NULL WHERE id = :id",
        "DELETE FROM audit_event_patient WHERE event_id = :id",
        "UPDATE audit_event_patient SET patient_id = patient_id + 1000 WHERE event_id = :id",
        "DELETE FROM audit_event_patient WHERE event_id = :id; DELETE FROM audit_event WHERE id = :id",
    ],
)
def test_verify_names_the_first_row_changed_behind_the_triggers(session, statement):
    _first, middle, last = _record_some(session)
    _tamper(session, statement, id=middle)
    verdict = chain.verify(session)
    assert not verdict.ok
    # A removed row breaks the link of the next one.
    assert verdict.broken_id == (last if "DELETE FROM audit_event WHERE" in statement else middle)


def test_a_row_inserted_without_a_hash_after_the_chain_began_is_found(session):
    _record_some(session, 1)
    session.execute(text("INSERT INTO audit_event (at, action, patient_count) VALUES (CURRENT_TIMESTAMP, 'forged', 0)"))
    verdict = chain.verify(session)
    assert verdict.reason == "missing"


def test_audit_verify_command_exits_non_zero_at_the_broken_link(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'verify.sqlite3'}"
    engine = make_engine(url)
    migrations.upgrade(engine)
    with unit_of_work(make_session_factory(engine)) as session:
        ids = _record_some(session)
    monkeypatch.setenv("BCP_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        good = runner.invoke(cli, ["audit", "verify"])
        assert good.exit_code == 0 and "正常" in good.output, good.output
        with unit_of_work(make_session_factory(engine)) as session:
            _tamper(session, "UPDATE audit_event SET action = 'patient.list' WHERE id = :id", id=ids[1])
        broken = runner.invoke(cli, ["audit", "verify"])
        assert broken.exit_code == 1 and f"記録 ID {ids[1]}" in broken.output, broken.output
    finally:
        get_settings.cache_clear()
        engine.dispose()


def test_concurrent_writers_keep_one_chain(database_url, engine):
    """Eight threads append at once, each in its own transaction: the chain has no fork."""
    factory = make_session_factory(engine)
    errors: list[BaseException] = []

    def write():
        try:
            for _ in range(5):
                with unit_of_work(factory) as session:
                    _record_some(session, 2)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        with factory() as session:
            assert chain.verify(session).ok
    finally:
        wipe_database(engine)


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT OR REPLACE INTO audit_event (id, at, username, action, patient_count) VALUES (:id, CURRENT_TIMESTAMP, 'x', 'x', 0)",
        "REPLACE INTO audit_event (id, at, username, action, patient_count) VALUES (:id, CURRENT_TIMESTAMP, 'x', 'x', 0)",
        "INSERT OR REPLACE INTO audit_event_patient (event_id, patient_id) VALUES (:id, 100)",
        "INSERT INTO audit_event (id, at, action, patient_count) VALUES (:id, CURRENT_TIMESTAMP, 'x', 0) "
        "ON CONFLICT (id) DO UPDATE SET action = 'x'",
    ],
)
@pytest.mark.parametrize("recursive", [False, True])
def test_sqlite_refuses_replace_with_or_without_recursive_triggers(session, statement, recursive):
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("REPLACE is SQLite's")
    (event_id, *_) = _record_some(session, 1)
    session.execute(text(f"PRAGMA recursive_triggers = {'ON' if recursive else 'OFF'}"))
    try:
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(text(statement), {"id": event_id})
    finally:
        session.execute(text("PRAGMA recursive_triggers = OFF"))
    row = session.get(AuditEvent, event_id)
    session.refresh(row)
    assert row.username == "hub-x" and row.action == "patient.read"
    assert chain.verify(session).ok


# --- PostgreSQL: the service's role -------------------------------------------------------------------

# The triggers' list (every UPDATE, DELETE, TRUNCATE), then what only the owner or a superuser could do.
REFUSED = [
    *STATEMENTS,
    "ALTER TABLE audit_event DISABLE TRIGGER ALL",
    "ALTER TABLE audit_event DISABLE TRIGGER USER",
    "ALTER TABLE audit_event_patient DISABLE TRIGGER audit_event_patient_no_change",
    "DROP TRIGGER audit_event_no_change ON audit_event",
    "ALTER TABLE audit_event OWNER TO CURRENT_USER",
    "DROP TABLE audit_event_patient",
    "SET ROLE bcp_audit_owner",
    "GRANT bcp_audit_owner TO CURRENT_USER",
    "ALTER ROLE CURRENT_USER SUPERUSER",
    "SET session_replication_role = replica",
    "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
    # GRANT by a non-owner only warns ("no privileges were granted"): the UPDATE after it still fails.
    "GRANT UPDATE, DELETE, TRUNCATE ON audit_event TO CURRENT_USER\nUPDATE audit_event SET action = 'tampered'",
    "GRANT ALL ON audit_event TO PUBLIC\nDELETE FROM audit_event",
    "SELECT setval('audit_event_id_seq', 1)",
]


@pytest.fixture(scope="module")
def service_engine(engine):
    """A login role like docker-compose's service role: a member of ``bcp_app``, nothing more."""
    if engine.dialect.name != "postgresql":
        pytest.skip("roles are PostgreSQL's")
    url = engine.url
    role = f"bcp_svc_{url.database}"[:60]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"DROP ROLE IF EXISTS {role}"))
        connection.execute(text(f"CREATE ROLE {role} LOGIN IN ROLE bcp_app"))
    with engine.begin() as connection:  # one committed audit row to try the statements on
        record(session=_bound(connection), principal=SOMEONE, action="patient.read", patient_ids=[1])
    service = make_engine(
        make_url(url.render_as_string(hide_password=False)).set(username=role).render_as_string(hide_password=False)
    )
    try:
        yield service
    finally:
        service.dispose()
        wipe_database(engine)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f"DROP ROLE IF EXISTS {role}"))


def _bound(connection):
    from sqlmodel import Session

    return Session(bind=connection)


@pytest.mark.parametrize("statement", REFUSED)
def test_the_service_role_cannot_change_the_audit_tables(service_engine, statement):
    with service_engine.connect() as connection:
        with pytest.raises(DBAPIError, match=r"permission denied|must be owner|must have admin|must be superuser"):
            for part in statement.split("\n"):
                connection.exec_driver_sql(part)
        connection.rollback()
        assert connection.execute(text("SELECT count(*) FROM audit_event WHERE action = 'tampered'")).scalar() == 0
        assert connection.execute(text("SELECT count(*) FROM audit_event")).scalar() >= 1


def test_the_service_role_appends_and_reads_and_keeps_its_other_rights(service_engine):
    with service_engine.connect() as connection:
        session = _bound(connection)
        record(session=session, principal=SOMEONE, action="patient.read", patient_ids=[2])
        assert chain.verify(session).ok
        assert connection.execute(text("SELECT count(*) FROM audit_event_patient")).scalar() >= 2
        connection.execute(text("UPDATE service_heartbeat SET info = info WHERE false"))
        connection.execute(text("DELETE FROM web_session WHERE false"))
        connection.rollback()
