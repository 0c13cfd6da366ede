"""The /ops bug (issue 29.3): on SQLite, ``/ops`` and ``GET /api/v1/system/status`` waited 30 s and then said
the database was unwritable when the caller's credential was touched by the request (a token's first use
writes ``last_used_at``, a page session its ``last_seen_at`` once a minute): the touch gave the request's
own session SQLite's write lock, and the status's write probe, in a unit of work of its own, waited for
that very request. The touch is now written apart (auth/deps.py ``_touch``) and ``/ops`` probes once.

These run on their own SQLite file whatever BCP_TEST_DATABASE_URL says (the bug is SQLite's).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from bcp_service import migrations
from bcp_service.app import create_app
from bcp_service.auth.deps import SESSION_COOKIE
from bcp_service.auth.service import start_web_session
from bcp_service.config import Settings
from bcp_service.db import make_engine, unit_of_work
from bcp_service.models import ApiToken, WebSession
from bcp_service.models.base import utcnow
from tests.factories import bearer, create_user

UNWRITABLE = "データベースに書き込めません"


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory):
    folder: Path = tmp_path_factory.mktemp("status-lock")
    url = f"sqlite:///{folder / 'ops.sqlite3'}"
    engine = make_engine(url)
    migrations.upgrade(engine)
    settings = Settings(
        environment="test",
        database_url=url,
        public_base_url="http://testserver",
        secret_key="test-secret-key-for-tests-only",
        data_dir=folder / "data",
    )
    yield create_app(settings, engine)
    engine.dispose()


def _fresh_token(app) -> dict[str, str]:
    """An admin's token never used yet: its first use writes ``last_used_at``."""
    with unit_of_work(app.state.session_factory) as session:
        return bearer(session, create_user(session, "admin"))


def _stale_cookie(app) -> str:
    """A page session last seen five minutes ago: the next request records its activity (a write)."""
    with unit_of_work(app.state.session_factory) as session:
        user = create_user(session, "admin")
        cookie, row = start_web_session(session=session, user=user, settings=app.state.settings)
        row.last_seen_at = utcnow() - timedelta(minutes=5)
        session.add(row)
    return cookie


def _touched(app) -> tuple[list, list]:
    with Session(app.state.engine) as session:
        return (
            list(session.exec(select(ApiToken.last_used_at)).all()),
            list(session.exec(select(WebSession.last_seen_at)).all()),
        )


def test_status_with_a_token_used_for_the_first_time_says_the_database_is_writable(sqlite_app):
    with TestClient(sqlite_app, headers=_fresh_token(sqlite_app)) as client:
        answer = client.get("/api/v1/system/status")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["database"] == "ok", body["down"]
    assert not [d for d in body["down"] if d["part"] == "database"]
    assert None not in _touched(sqlite_app)[0]  # the first use is still recorded


def test_ops_page_with_a_token_used_for_the_first_time_says_the_database_is_writable(sqlite_app):
    with TestClient(sqlite_app, headers=_fresh_token(sqlite_app)) as client:
        page = client.get("/ops")
    assert page.status_code == 200
    assert UNWRITABLE not in page.text


def test_ops_and_status_with_a_stale_page_session(sqlite_app):
    cookie = _stale_cookie(sqlite_app)
    before = utcnow() - timedelta(minutes=1)
    with TestClient(sqlite_app, cookies={SESSION_COOKIE: cookie}) as client:
        page = client.get("/ops")
        assert page.status_code == 200 and UNWRITABLE not in page.text
        with unit_of_work(sqlite_app.state.session_factory) as session:  # stale again for the status
            for row in session.exec(select(WebSession)).all():
                row.last_seen_at = utcnow() - timedelta(minutes=5)
                session.add(row)
        answer = client.get("/api/v1/system/status")
    assert answer.status_code == 200 and answer.json()["database"] == "ok", answer.json()["down"]
    seen = [s if s.tzinfo else s.replace(tzinfo=UTC) for s in _touched(sqlite_app)[1] if s is not None]
    assert seen and max(seen) > before  # the activity is still recorded


def test_status_says_busy_not_unwritable_while_another_process_holds_the_lock(sqlite_app):
    """A long writer elsewhere: the status's probe waits shed_wait_seconds, then says "busy", never 30 s."""
    headers = _fresh_token(sqlite_app)
    with TestClient(sqlite_app, headers=headers) as client:
        assert client.get("/api/v1/system/status").json()["database"] == "ok"  # the token's touch is behind us
    quick = create_app(sqlite_app.state.settings.model_copy(update={"shed_wait_seconds": 0.3}), sqlite_app.state.engine)
    holder = sqlite3.connect(sqlite_app.state.settings.database_url.split("///", 1)[1], isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with TestClient(quick, headers=headers) as client:
            answer = client.get("/api/v1/system/status")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert answer.status_code == 200
    body = answer.json()
    assert body["database"] == "busy"
    assert [(d["part"], d["state"]) for d in body["down"] if d["part"] == "database"] == [("database", "busy")]
