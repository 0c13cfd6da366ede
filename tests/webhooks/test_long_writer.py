"""A delivery receipt that arrives while another process holds SQLite's write lock is answered in time.

The SQLite soak (load_tests/RESULTS.md) had receipts wait up to 12.6 s for the group commit behind
long writers; Twilio gives a webhook 15 s. Here a writer holds the lock far longer than the webhook's
bound (``webhook_commit_wait_seconds``, 2 s here: generously above a normal commit of milliseconds,
far below 15 s): the receipt is answered while the lock is still held, from the journal, and is
recorded once the lock is free. These tests run on their own SQLite file whatever
BCP_TEST_DATABASE_URL says.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text
from sqlmodel import select

from bcp_service import migrations
from bcp_service.app import create_app
from bcp_service.config import Settings
from bcp_service.db import make_engine, make_session_factory, unit_of_work
from bcp_service.models import OutboxMessage
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from bcp_service.webhooks.journal import Journal
from tests.factories import create_municipality, create_prefecture
from tests.rounds.conftest import add_patient
from tests.webhooks.conftest import AUTH_TOKEN, BASE, eventually, post_signed, sid

WAIT = 2.0  # the webhook's bound in this test
HOLD = 30.0  # the long writer holds the lock at most this long (released as soon as the answer is in)


def round_on_sqlite(tmp_path: Path, *, wait: float = WAIT):
    """An app on its own SQLite file with one running round whose message was sent: (app, message)."""
    url = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    engine = make_engine(url)
    migrations.upgrade(engine)
    settings = Settings(
        environment="test",
        database_url=url,
        public_base_url="http://testserver",
        data_dir=tmp_path,
        secret_key="test-secret-key-for-tests-only",
        twilio_account_sid="AC5130a7000000000000000000000000a1",
        twilio_auth_token=SecretStr(AUTH_TOKEN),
        webhook_base_url=BASE,
        webhook_commit_wait_seconds=wait,
    )
    app = create_app(settings, engine)
    with unit_of_work(app.state.session_factory) as session:
        city = create_municipality(session, create_prefecture(session))
        add_patient(session, city, uses_ventilator=True, ventilator_mode="invasive")
        safety_round, _ = start_round(
            session=session,
            actor=Actor.system("test"),
            settings=settings,
            drill=False,
            reason="disaster",
            target=RoundTarget(municipality_ids=[city.id]),
        )
        message = session.exec(select(OutboxMessage).where(OutboxMessage.round_id == safety_round.id)).one()
        message.state, message.provider_message_id, message.answer_token = "sent", sid(), None
        session.add(message)
    return app, message


@pytest.fixture
def sqlite_app(tmp_path: Path):
    app, message = round_on_sqlite(tmp_path)
    yield app, message.id, message.provider_message_id
    app.state.engine.dispose()


class LongWriter:
    """Another process's transaction that holds SQLite's write lock until released (or ``HOLD`` passes)."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.locked, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with unit_of_work(make_session_factory(self.engine)) as session:  # BEGIN IMMEDIATE: the lock
            session.execute(text("UPDATE service_heartbeat SET process_id = process_id WHERE 0"))
            self.locked.set()
            self.release.wait(HOLD)

    def __enter__(self) -> LongWriter:
        self.thread.start()
        assert self.locked.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.thread.join(HOLD)
        self.engine.dispose()


def _state(app, message_id: int) -> str:
    with make_session_factory(app.state.engine, read_only=True)() as session:
        return session.get(OutboxMessage, message_id).state


def test_a_receipt_behind_a_long_writer_is_answered_from_the_journal_then_recorded(sqlite_app, caplog):
    app, message_id, provider_id = sqlite_app
    journal = app.state.webhook_journal = Journal(Path(app.state.settings.data_dir) / "journal")
    receipt = {"MessageSid": provider_id, "MessageStatus": "delivered", "AccountSid": "AC1"}
    with TestClient(app) as client:
        with LongWriter(app.state.settings.database_url) as writer:
            response = post_signed(client, "/webhooks/twilio/status", receipt)
            # Answered while the writer still holds the lock: the commit cannot have happened yet...
            assert not writer.release.is_set() and writer.thread.is_alive()
            assert response.status_code == 204
            # ...so the receipt was on disk before the answer.
            (kept,) = journal.pending()
            assert provider_id in kept.read_text(encoding="utf-8")
            assert _state(app, message_id) == "sent"
        # The lock is free: the queued write commits by itself.
        assert eventually(lambda: _state(app, message_id) == "delivered")
        # The log names the long writer (db.py), so that it can be found and split.
        assert any(r.msg == "sqlite.write_lock_held" and r.writer_thread == writer.thread.name for r in caplog.records)
        # And the journal's copy replays harmlessly (statuses only move up).
        assert journal.replay(app.state.unit_of_work) == 1
        assert journal.pending() == []
        assert _state(app, message_id) == "delivered"


def test_an_answered_receipt_survives_the_process_dying_before_its_commit(sqlite_app):
    """Durability: what was answered is in the journal, and a replay alone records it."""
    app, message_id, provider_id = sqlite_app
    journal = app.state.webhook_journal = Journal(Path(app.state.settings.data_dir) / "journal")
    receipt = {"MessageSid": provider_id, "MessageStatus": "delivered", "AccountSid": "AC1"}
    statuses = []
    with TestClient(app) as client, LongWriter(app.state.settings.database_url):
        assert post_signed(client, "/webhooks/twilio/status", receipt).status_code == 204
        # The process "dies" before the group commit gets the lock: its queued write is lost with it.
        group = app.state.writers["twilio-status"]
        group.apply = lambda session, items: statuses.extend(items) or ["lost"] * len(items)
    assert eventually(lambda: statuses != [])  # the dead process's write did nothing
    assert _state(app, message_id) == "sent"
    # The worker's maintenance loop (another process) replays the journal.
    other = make_engine(app.state.settings.database_url)
    assert Journal(journal.directory).replay(lambda: unit_of_work(make_session_factory(other))) == 1
    other.dispose()
    assert _state(app, message_id) == "delivered"


def test_a_quick_commit_does_not_touch_the_journal(sqlite_app):
    app, message_id, provider_id = sqlite_app
    journal = app.state.webhook_journal = Journal(Path(app.state.settings.data_dir) / "journal")
    with TestClient(app) as client:
        receipt = {"MessageSid": provider_id, "MessageStatus": "delivered", "AccountSid": "AC1"}
        assert post_signed(client, "/webhooks/twilio/status", receipt).status_code == 204
    assert journal.pending() == []
    assert _state(app, message_id) == "delivered"
