"""Keypad answers and call statuses are never lost to a slow or absent database (issue 26, item 2).

A keypad answer posted while another process holds SQLite's write lock (up to 60 s here, four times
Twilio's 15 s) is answered within the webhook's bound from the journal, in Japanese, and recorded once
the lock is free; a call status likewise. The call's FallbackUrl keeps a press without the database.
These tests run on their own SQLite file whatever BCP_TEST_DATABASE_URL says.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from bcp_service.answer_tokens import hash_token
from bcp_service.db import make_session_factory, unit_of_work
from bcp_service.models import CheckAnswer, OutboxMessage
from bcp_service.webhooks.journal import Journal
from tests.webhooks import test_long_writer
from tests.webhooks.conftest import BASE, eventually, post_signed, sid
from tests.webhooks.test_long_writer import LongWriter, round_on_sqlite

WAIT = 2.0
TOKEN = "voice-test-token-0123456789abcdef"


@pytest.fixture
def voice_app(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(test_long_writer, "HOLD", 60.0)  # the lock may be held for a whole minute
    app, message = round_on_sqlite(tmp_path, wait=WAIT)
    with unit_of_work(app.state.session_factory) as session:
        # The round's message made into the call escalation placed: a voice row with its token's hash.
        message = session.get(OutboxMessage, message.id)
        message.channel, message.provider_message_id = "voice", sid("CA")
        message.answer_token, message.answer_token_hash = None, hash_token(TOKEN)
        session.add(message)
    app.state.webhook_journal = Journal(tmp_path / "journal")
    yield app, message
    app.state.engine.dispose()


def _answers(app, check_id: int) -> list[tuple[str, str | None]]:
    with make_session_factory(app.state.engine, read_only=True)() as session:
        rows = session.exec(select(CheckAnswer).where(CheckAnswer.check_id == check_id)).all()
        return [(a.state, a.idempotency_key) for a in rows]


def _state(app, message_id: int) -> str:
    with make_session_factory(app.state.engine, read_only=True)() as session:
        return session.get(OutboxMessage, message_id).state


def _said(response) -> str:
    return "".join(say.text or "" for say in ET.fromstring(response.text).iter("Say"))


def test_a_keypad_answer_during_a_60_s_lock_is_answered_then_recorded(voice_app):
    app, message = voice_app
    journal = app.state.webhook_journal
    with TestClient(app) as client:
        with LongWriter(app.state.settings.database_url) as writer:
            started = time.monotonic()
            response = post_signed(
                client, f"/webhooks/twilio/voice/call/{TOKEN}/answer", {"CallSid": "CA1", "Digits": "1"}
            )
            took = time.monotonic() - started
            # Answered while the lock is still held, well inside Twilio's 15 s, with Japanese TwiML.
            assert writer.thread.is_alive() and not writer.release.is_set()
            assert response.status_code == 200 and took < 15
            assert response.headers["content-type"].startswith("application/xml")
            assert "受け付けました" in _said(response)
            assert all(s.get("language") == "ja-JP" for s in ET.fromstring(response.text).iter("Say"))
            (kept,) = journal.pending()
            assert '"call_sid": "CA1"' in kept.read_text(encoding="utf-8")
            assert _answers(app, message.check_id) == []
        # The lock is free: the queued write commits by itself, and the journal's copy changes nothing.
        assert eventually(lambda: _answers(app, message.check_id) == [("safe", "voice:CA1")])
        assert journal.replay(app.state.unit_of_work) == 1
        assert _answers(app, message.check_id) == [("safe", "voice:CA1")]


def test_a_journaled_press_alone_records_the_answer(voice_app):
    """The process dies before its commit: the replay (the worker's maintenance loop) records the press."""
    app, message = voice_app
    journal = app.state.webhook_journal
    with TestClient(app) as client:
        with LongWriter(app.state.settings.database_url):
            assert (
                post_signed(
                    client, f"/webhooks/twilio/voice/call/{TOKEN}/answer", {"CallSid": "CA2", "Digits": "3"}
                ).status_code
                == 200
            )
            app.state.writers["twilio-voice"].apply = lambda session, items: [None] * len(items)  # lost
        time.sleep(0.5)
    assert _answers(app, message.check_id) == []
    assert Journal(journal.directory).replay(app.state.unit_of_work) == 1
    assert _answers(app, message.check_id) == [("power_out", "voice:CA2")]


def test_a_call_status_during_a_lock_is_kept_then_applied(voice_app):
    app, message = voice_app
    with TestClient(app) as client:
        with LongWriter(app.state.settings.database_url):
            response = post_signed(
                client,
                "/webhooks/twilio/voice/status",
                {"CallSid": message.provider_message_id, "CallStatus": "completed"},
            )
            assert response.status_code == 204
            assert len(app.state.webhook_journal.pending()) == 1
        assert eventually(lambda: _state(app, message.id) == "delivered")


def test_the_fallback_keeps_the_press_of_a_failed_request(voice_app):
    """Twilio posts the press to the FallbackUrl when the action failed; it is journaled, read nowhere."""
    app, message = voice_app
    with TestClient(app) as client:
        params = {
            "CallSid": "CA3",
            "Digits": "",
            "ErrorCode": "11200",
            "ErrorUrl": f"{BASE}/webhooks/twilio/voice/call/{TOKEN}/hours",
        }
        first = post_signed(client, f"/webhooks/twilio/voice/call/{TOKEN}/answer", {"CallSid": "CA3", "Digits": "3"})
        assert first.status_code == 200
        response = post_signed(client, f"/webhooks/twilio/voice/fallback/{TOKEN}", params)
        assert response.status_code == 200 and "受け付けました" in _said(response)
        kept = [line for path in app.state.webhook_journal.pending() for line in path.read_text().splitlines()]
        assert any('"step": "hours"' in line and '"call_sid": "CA3"' in line for line in kept)
        # No press (the call's first TwiML failed): an apology in Japanese, not Twilio's English error.
        apology = post_signed(
            client, f"/webhooks/twilio/voice/fallback/{TOKEN}", {"CallSid": "CA4", "ErrorCode": "11200"}
        )
        assert "担当者から改めて連絡します" in _said(apology)
    app.state.webhook_journal.replay(app.state.unit_of_work)
    with make_session_factory(app.state.engine, read_only=True)() as session:
        answers = session.exec(
            select(CheckAnswer).where(CheckAnswer.check_id == message.check_id).order_by(CheckAnswer.id)
        ).all()
        assert [(a.state, a.hours_unknown) for a in answers] == [("power_out", False), ("power_out", True)]


def test_a_fallback_needs_a_signature(voice_app):
    app, _ = voice_app
    with TestClient(app) as client:
        assert client.post(f"/webhooks/twilio/voice/fallback/{TOKEN}", data={"CallSid": "CA5"}).status_code == 403
