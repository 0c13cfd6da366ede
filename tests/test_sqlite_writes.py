"""SQLite write discipline (db.py): a unit of work that reads and then writes never meets "database is locked".

The failure this guards against: a transaction begun with a deferred ``BEGIN`` reads (a page looks up
its data), another connection writes and commits (the worker, the group commit), then the first one
writes its audit row. In WAL mode SQLite refuses that upgrade at once; ``busy_timeout`` cannot help.
These tests run on their own SQLite file whatever BCP_TEST_DATABASE_URL says.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bcp_service import migrations
from bcp_service.app import create_app
from bcp_service.config import Settings
from bcp_service.db import make_engine, make_session_factory, unit_of_work
from tests.factories import bearer, create_municipality, create_patient, create_prefecture, create_user


def _engine(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'writes.sqlite3'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, n INTEGER)"))
        connection.execute(text("INSERT INTO t (n) VALUES (0)"))
    return engine


def _read_then_write(factory, other_writer) -> None:
    """Read, let another connection write and commit in between, then write: the page-with-audit shape."""
    with unit_of_work(factory) as session:
        session.execute(text("SELECT n FROM t")).all()
        writer = threading.Thread(target=other_writer)
        writer.start()
        writer.join(0.5)  # deferred: the other write commits now; immediate: it waits for us
        session.execute(text("INSERT INTO t (n) VALUES (1)"))
    writer.join(10)


def _other_writer(factory, errors: list) -> None:
    def run() -> None:
        try:
            with unit_of_work(factory) as session:
                session.execute(text("INSERT INTO t (n) VALUES (2)"))
        except OperationalError as exc:  # pragma: no cover - a failure of the discipline
            errors.append(exc)

    return run


def test_deferred_begin_fails_as_the_demo_did(tmp_path: Path):
    # The reproduction: with a plain BEGIN (what read_only sessions use) the upgrade is refused.
    engine = _engine(tmp_path)
    deferred = make_session_factory(engine, read_only=True)
    errors: list = []
    with pytest.raises(OperationalError, match="database is locked"):
        _read_then_write(deferred, _other_writer(make_session_factory(engine), errors))
    assert errors == []


def test_every_unit_of_work_takes_the_write_lock_when_it_begins(tmp_path: Path):
    engine = _engine(tmp_path)
    factory = make_session_factory(engine)
    errors: list = []
    _read_then_write(factory, _other_writer(factory, errors))
    assert errors == []
    with engine.connect() as connection:
        assert sorted(n for (n,) in connection.execute(text("SELECT n FROM t"))) == [0, 1, 2]


def test_request_sessions_take_the_lock_only_at_their_first_write(tmp_path: Path):
    engine = _engine(tmp_path)
    late = make_session_factory(engine, mode="write_late")
    errors: list = []
    # While it only reads, another connection commits at once (no waiting for this request)...
    _read_then_write(late, _other_writer(make_session_factory(engine), errors))
    assert errors == []
    with engine.connect() as connection:
        assert sorted(n for (n,) in connection.execute(text("SELECT n FROM t"))) == [0, 1, 2]
    # ...and a SAVEPOINT begins the write transaction, so rolling it back works as on PostgreSQL.
    with unit_of_work(late) as session:
        session.execute(text("SELECT n FROM t")).all()
        nested = session.begin_nested()
        session.execute(text("INSERT INTO t (n) VALUES (9)"))
        nested.rollback()
        session.execute(text("INSERT INTO t (n) VALUES (3)"))
    with engine.connect() as connection:
        assert sorted(n for (n,) in connection.execute(text("SELECT n FROM t"))) == [0, 1, 2, 3]


def test_read_only_sessions_do_not_wait_for_a_writer(tmp_path: Path):
    # The board's live watcher must not queue behind a round's writes.
    engine = _engine(tmp_path)
    with unit_of_work(make_session_factory(engine)) as writer:
        writer.execute(text("INSERT INTO t (n) VALUES (5)"))
        started = time.monotonic()
        with make_session_factory(engine, read_only=True)() as reader:
            assert reader.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
        assert time.monotonic() - started < 1


@pytest.fixture
def sqlite_app(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    engine = make_engine(url)
    migrations.upgrade(engine)
    settings = Settings(
        environment="test",
        database_url=url,
        public_base_url="http://testserver",
        secret_key="test-secret-key-for-tests-only",
    )
    app = create_app(settings, engine)
    with unit_of_work(app.state.session_factory) as session:
        prefecture = create_prefecture(session)
        municipality = create_municipality(session, prefecture)
        for n in range(3):
            create_patient(session, municipality, name=f"試験 太郎{n}")
        headers = bearer(session, create_user(session, "admin"))
    yield app, headers
    engine.dispose()


def test_audited_reads_succeed_while_another_process_writes(sqlite_app):
    """Requests that read and then write their audit row, against a writer committing all the time."""
    app, headers = sqlite_app
    other = make_engine(app.state.settings.database_url)  # another process's connection pool
    stop = threading.Event()
    errors: list = []

    def hammer() -> None:
        factory = make_session_factory(other)
        while not stop.is_set():
            try:
                with unit_of_work(factory) as session:
                    session.execute(text("UPDATE service_heartbeat SET process_id = process_id"))
                    session.execute(text("SELECT count(*) FROM patient")).all()
                    time.sleep(0.002)
            except OperationalError as exc:  # pragma: no cover - a failure of the discipline
                errors.append(exc)
            time.sleep(0.003)

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        with TestClient(app, headers=headers) as client:
            statuses = [client.get("/api/v1/patients").status_code for _ in range(40)]
            statuses += [client.get("/api/v1/patients/1").status_code for _ in range(20)]
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        other.dispose()
    assert statuses == [200] * 60
    assert errors == []


def test_a_connection_that_met_a_read_only_file_is_replaced_not_kept(tmp_path: Path):
    """A connection opened while the file was read-only stays read-only: the pool must drop it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'ro.sqlite3'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x int)")
    # A deferred transaction, as on a write-protected file, where BEGIN IMMEDIATE takes no lock either.
    with engine.execution_options(bcp_sqlite_mode="read_only").connect() as connection:
        # As SQLite opens a write-protected file: this connection can only read from now on.
        connection.exec_driver_sql("PRAGMA query_only = ON")
        with pytest.raises(OperationalError, match="readonly"):
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")
        assert connection.invalidated
    with engine.begin() as connection:  # the permissions were fixed: a fresh connection writes
        connection.exec_driver_sql("INSERT INTO t VALUES (2)")
        assert connection.exec_driver_sql("SELECT x FROM t").scalars().all() == [2]
    engine.dispose()


READ_ONLY_PROCESS = """
import sys, time
from sqlalchemy import text
from bcp_service.db import make_engine, unit_of_work, make_session_factory
engine = make_engine(sys.argv[1])
factory = make_session_factory(engine)
held = [engine.connect() for _ in range(3)]  # a pool with several connections, as a busy API has
for connection in held:
    connection.exec_driver_sql("SELECT count(*) FROM t").all()
    connection.close()
results = []
for attempt in range(40):
    try:
        with unit_of_work(factory) as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
        results.append("wrote")
        break
    except Exception as exc:
        results.append(type(exc).__name__)
    if attempt == 2:
        print("fix", flush=True)
        sys.stdin.readline()  # the parent made the file writable
    time.sleep(0.05)
print(" ".join(results), flush=True)
"""


def test_a_process_that_opened_a_read_only_file_writes_once_it_is_fixed(tmp_path: Path):
    """Every connection of the process keeps a read-only file read-only: all must be reopened."""
    import os
    import shutil
    import subprocess
    import sys

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to take file permissions away from a process")
    directory = tmp_path / "db"
    url = f"sqlite:///{directory / 'ro.sqlite3'}"
    engine = make_engine(url)  # stays open, as the other processes of a deployment keep the WAL files
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x int)")
    files = sorted(directory.iterdir())
    for path in files:
        path.chmod(0o444)
    directory.chmod(0o555)
    child = subprocess.Popen(
        [
            "setpriv",
            "--bounding-set=-dac_override,-dac_read_search",
            "--",
            sys.executable,
            "-c",
            READ_ONLY_PROCESS,
            url,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "fix"
        directory.chmod(0o755)
        for path in files:
            path.chmod(0o644)
        child.stdin.write("\n")
        child.stdin.flush()
        outcome = child.stdout.readline().split()
        assert outcome[:3] == ["OperationalError"] * 3 and outcome[-1] == "wrote", outcome
    finally:
        directory.chmod(0o755)
        child.kill()
        child.wait()
        engine.dispose()
