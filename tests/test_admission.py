"""Load shedding (issue 29.3): ordinary requests wait a bounded time and then get 503 with Retry-After (a
Japanese page, or JSON for the API), never a 500 after 30 s; answer links, Twilio webhooks and nurse
results are never the ones shed.

The SQLite lock tests run on their own SQLite file whatever BCP_TEST_DATABASE_URL says; the pool test runs
on the suite's database (both engines).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bcp_service import admission, migrations
from bcp_service.admission import FREE, ORDINARY, PRIORITY, AdmissionMiddleware, Gate, classify
from bcp_service.app import create_app
from bcp_service.config import Settings
from bcp_service.db import make_engine, unit_of_work
from bcp_service.models import CheckAnswer, OutboxMessage
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from bcp_service.web.errors import busy_response
from tests.dbutil import wipe_database
from tests.factories import bearer, create_municipality, create_patient, create_prefecture, create_user

BUSY_PAGE = "ただいま混み合っています"


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("POST", "/a/abc", PRIORITY),
        ("GET", "/a/abc", PRIORITY),
        ("POST", "/webhooks/twilio/status", PRIORITY),
        ("POST", "/webhooks/twilio/voice/call/t", PRIORITY),
        ("POST", "/api/v1/nurse/results", PRIORITY),
        ("POST", "/nurse/checks/12/result", PRIORITY),
        ("GET", "/healthz", PRIORITY),
        ("GET", "/static/app.css", FREE),
        ("GET", "/board/rounds/3/events", FREE),
        ("GET", "/nurse/sw.js", FREE),
        ("GET", "/nurse", ORDINARY),
        ("GET", "/api/v1/nurse/results", ORDINARY),
        ("GET", "/board/rounds/3", ORDINARY),
        ("POST", "/logout", ORDINARY),
        ("GET", "/api/v1/patients", ORDINARY),
        ("GET", "/ops", ORDINARY),
        ("GET", "/admin", ORDINARY),
    ],
)
def test_classes_of_requests(method, path, kind):
    assert classify(method, path) == kind


def test_the_gate_admits_in_order_and_sheds_after_the_wait():
    async def scenario():
        gate = Gate(1)
        assert await gate.enter(0.01)
        assert not await gate.enter(0.05)  # full: shed after its wait
        assert gate.shed == 1 and gate.active == 1 and not gate.waiting
        order: list[str] = []

        async def waiter(name: str) -> None:
            if await gate.enter(2):
                order.append(name)
                await asyncio.sleep(0.01)
                gate.leave()

        tasks = [asyncio.create_task(waiter(n)) for n in "abc"]
        await asyncio.sleep(0.05)
        gate.leave()  # the place passes to a, then b, then c
        await asyncio.gather(*tasks)
        assert order == ["a", "b", "c"]
        assert gate.active == 0 and not gate.waiting

        assert await gate.enter(0.01)
        cancelled = asyncio.create_task(gate.enter(5))
        await asyncio.sleep(0.02)
        cancelled.cancel()  # the client went away while waiting: no place is lost
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        gate.leave()
        assert gate.active == 0 and not gate.waiting

    asyncio.run(scenario())


def _tiny_app():
    async def slow(request):
        await asyncio.sleep(0.5)
        return PlainTextResponse("ok")

    routes = [
        Route(path, slow, methods=["GET", "POST"])
        for path in ("/registry/x", "/api/v1/x", "/a/t", "/webhooks/twilio/status")
    ]
    return AdmissionMiddleware(Starlette(routes=routes), limit=1, wait_seconds=0.1, retry_after=7, reject=busy_response)


def test_ordinary_requests_beyond_the_limit_get_503_with_retry_after_and_priority_ones_pass():
    async def scenario():
        transport = httpx.ASGITransport(app=_tiny_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = asyncio.create_task(client.get("/registry/x"))
            await asyncio.sleep(0.05)
            page, api, link, receipt = await asyncio.gather(
                client.get("/registry/x"),
                client.get("/api/v1/x"),
                client.post("/a/t"),
                client.post("/webhooks/twilio/status"),
            )
            return await first, page, api, link, receipt

    first, page, api, link, receipt = asyncio.run(scenario())
    assert first.status_code == 200
    assert page.status_code == 503 and page.headers["retry-after"] == "7"
    assert page.headers["content-type"].startswith("text/html") and BUSY_PAGE in page.text and "7秒" in page.text
    assert api.status_code == 503 and api.headers["retry-after"] == "7"
    assert api.json()["retry_after"] == 7 and "Retry-After" in api.json()["detail"]
    assert (link.status_code, receipt.status_code) == (200, 200)  # never shed, whatever the load


@pytest.fixture(scope="module")
def locked_app(tmp_path_factory):
    """A migrated SQLite file, a round with one answer link, an admin whose token is already used."""
    folder: Path = tmp_path_factory.mktemp("shed")
    url = f"sqlite:///{folder / 'shed.sqlite3'}"
    engine = make_engine(url)
    migrations.upgrade(engine)
    settings = Settings(
        environment="test",
        database_url=url,
        public_base_url="http://testserver",
        secret_key="test-secret-key-for-tests-only",
        data_dir=folder / "data",
        shed_wait_seconds=0.5,
        shed_retry_after_seconds=4,
    )
    app = create_app(settings, engine)
    with unit_of_work(app.state.session_factory) as session:
        prefecture = create_prefecture(session)
        city = create_municipality(session, prefecture)
        patient = create_patient(session, city, phones=["+819011112222"])
        headers = bearer(session, create_user(session, "admin"))
        safety_round, _ = start_round(
            session=session,
            actor=Actor.system("test"),
            target=RoundTarget(municipality_ids=[city.id]),
            reason="manual",
            drill=True,
            settings=settings,
            title="混雑試験",
        )
        message = session.exec(select(OutboxMessage).where(OutboxMessage.round_id == safety_round.id)).one()
    with TestClient(app, headers=headers) as client:
        assert client.get("/api/v1/patients").status_code == 200  # the token's first use is behind us
    yield app, headers, patient.id, message.answer_token, message.check_id, folder / "shed.sqlite3"
    engine.dispose()


def _hold_write_lock(path: Path, seconds: float, held: threading.Event, released: threading.Event) -> threading.Thread:
    """Another process's long writer: SQLite's write lock taken and kept for ``seconds``."""

    def hold() -> None:
        connection = sqlite3.connect(path, isolation_level=None, timeout=30)
        try:
            connection.execute("BEGIN IMMEDIATE")
            held.set()
            time.sleep(seconds)
            released.set()
            connection.execute("COMMIT")
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    return thread


def test_a_locked_database_sheds_ordinary_writes_and_keeps_a_link_answer(locked_app):
    app, headers, patient_id, token, check_id, path = locked_app
    held, released = threading.Event(), threading.Event()
    results: dict[str, object] = {}
    with TestClient(app, headers=headers) as client:
        holder = _hold_write_lock(path, 3.0, held, released)
        assert held.wait(10)

        def link() -> None:
            results["link"] = client.post(f"/a/{token}", data={"state": "safe", "nonce": "shed-1"})

        answering = threading.Thread(target=link)
        answering.start()
        api = client.patch(f"/api/v1/patients/{patient_id}", json={"address": "千葉市中央区1-1"})  # a write
        api_during = not released.is_set()
        page = client.post(f"/registry/patients/{patient_id}/status", data={"status": "hospitalized"})
        page_during = not released.is_set()
        read = client.get(f"/api/v1/patients/{patient_id}")  # a read: served, its audit row kept for later
        read_during = not released.is_set()
        answering.join(40)
        holder.join(10)
    assert api.status_code == 503 and api.headers["retry-after"] == "4" and api_during, api.text
    assert api.json()["down"] == [{"part": "database", "state": "busy"}]
    assert page.status_code == 503 and page.headers["retry-after"] == "4" and page_during, page.text[:300]
    assert BUSY_PAGE in page.text and page.headers["content-type"].startswith("text/html")
    # faults (issue 28.2): a read whose audit row cannot be written now is served, the row kept in
    # audit/deferred.py and appended to the chain once the database takes writes again.
    assert read.status_code == 200 and read_during and read.json()["id"] == patient_id
    answer = results["link"]
    assert answer.status_code == 200 and "回答を受け付けました" in answer.text  # waited for the lock, kept
    with Session(app.state.engine) as session:
        kept = session.exec(select(CheckAnswer).where(CheckAnswer.check_id == check_id)).all()
    assert [a.state for a in kept] == ["safe"]


@pytest.fixture
def pool_app(settings, database_url, engine):
    """The suite's database behind an app whose pool is small and waits 0.3 s; a committed admin."""
    small = make_engine(database_url, pool_size=2, pool_timeout=0.3)
    with Session(engine) as session:
        headers = bearer(session, create_user(session, "admin"))
        session.commit()
    app = create_app(settings.model_copy(update={"shed_retry_after_seconds": 6}), small)
    with TestClient(app, headers=headers) as client:
        assert client.get("/api/v1/patients").status_code == 200  # the token's first use is behind us
    yield app, headers, small
    small.dispose()
    wipe_database(engine)


def test_an_exhausted_pool_is_503_with_retry_after_not_500(pool_app):
    app, headers, small = pool_app
    taken = [small.connect() for _ in range(small.pool.size() + small.pool._max_overflow)]
    try:
        with TestClient(app, headers=headers) as client:
            api = client.get("/api/v1/patients")
            page = client.get("/")
    finally:
        for connection in taken:
            connection.close()
    assert api.status_code == 503 and api.headers["retry-after"] == "6", api.text
    assert api.json()["down"] == [{"part": "database", "state": "busy"}]
    assert page.status_code == 503 and page.headers["retry-after"] == "6" and BUSY_PAGE in page.text
    with TestClient(app, headers=headers) as client:
        assert client.get("/api/v1/patients").status_code == 200  # and back once connections are free


def test_the_limit_follows_the_engine():
    assert admission.default_limit("sqlite", 5) == admission.SQLITE_LIMIT
    assert admission.default_limit("postgresql", 10) == 10
