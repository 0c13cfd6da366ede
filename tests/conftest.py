"""Test fixtures: the schema is built once by the migrations; each test runs in a rolled-back transaction.

Set BCP_TEST_DATABASE_URL to run on PostgreSQL (the database is wiped and migrated first).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session

from bcp_service import migrations
from bcp_service.app import create_app
from bcp_service.config import Settings
from bcp_service.db import get_session, make_engine
from bcp_service.logs import KeyValueFormatter, quiet_noisy_loggers
from tests.factories import bearer, create_user

LOG_SCAN_TEST = "test_no_personal_data_in_logs"


def pytest_collection_modifyitems(session, config, items) -> None:
    # The log scan reads what the whole run logged, so it goes last.
    items.sort(key=lambda item: item.name == LOG_SCAN_TEST)


@pytest.fixture(scope="session", autouse=True)
def run_log(tmp_path_factory) -> Iterator[Path]:
    """Every log record of the run, formatted as in production, for the personal-data scan."""
    path = tmp_path_factory.mktemp("logs") / "run.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    quiet_noisy_loggers()
    yield path
    root.removeHandler(handler)
    root.setLevel(previous)
    handler.close()


def pytest_report_header(config) -> str:
    return f"database: {test_database_url(Path('/tmp')).split('@')[-1]}"


def test_database_url(tmp_dir: Path) -> str:
    return os.environ.get("BCP_TEST_DATABASE_URL") or f"sqlite:///{tmp_dir / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    return test_database_url(tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrations.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory) -> Settings:
    # Its own data folder (webhook journal, logs): never the checkout's data/, which another run may share.
    return Settings(
        environment="test",
        database_url=database_url,
        public_base_url="http://testserver",
        secret_key="test-secret-key-for-tests-only",
        data_dir=tmp_path_factory.mktemp("data"),
    )


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    connection = engine.connect()
    outer = connection.begin()
    db_session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield db_session
    finally:
        db_session.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def app(settings: Settings, engine: Engine, session: Session):
    application = create_app(settings, engine)

    def shared_session() -> Iterator[Session]:
        # Release the test's own setup first, so a failing request rolls back only its own work.
        session.commit()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    application.dependency_overrides[get_session] = shared_session
    application.state.unit_of_work = contextmanager(shared_session)  # group commits use the test's session too
    application.state.read_unit_of_work = application.state.unit_of_work
    application.state.short_unit_of_work = application.state.unit_of_work  # touch, probe
    return application


@pytest.fixture
def anon_client(app) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def admin_user(session: Session):
    return create_user(session, "admin")


@pytest.fixture
def client(app, session: Session, admin_user) -> Iterator[TestClient]:
    """A client logged in as admin (bearer token)."""
    with TestClient(app, headers=bearer(session, admin_user)) as test_client:
        yield test_client


@pytest.fixture
def client_as(app, session: Session):
    """``client_as(role, scope_id)``: a client with a fresh account of that role."""
    clients: list[TestClient] = []

    def make(role: str, scope_id: int | None = None) -> TestClient:
        user = create_user(session, role, scope_id)
        test_client = TestClient(app, headers=bearer(session, user))
        clients.append(test_client)
        return test_client

    yield make
    for test_client in clients:
        test_client.close()
