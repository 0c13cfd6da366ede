"""Receipts and replies that meet a database outage are journaled and replayed, not lost (issue 19)."""

import os
import stat
import threading
from contextlib import contextmanager
from unittest.mock import patch

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from bcp_service.models import CheckAnswer, OutboxMessage
from bcp_service.webhooks import journal as journal_module
from bcp_service.webhooks import routes
from bcp_service.webhooks.journal import Journal
from tests.webhooks.conftest import eventually, post_signed, sid


@pytest.fixture
def journal(app, tmp_path):
    app.state.webhook_journal = Journal(tmp_path / "journal")
    return app.state.webhook_journal


@pytest.fixture
def outage(monkeypatch):
    """The database refuses every webhook write until ``outage["on"]`` is cleared."""
    state = {"on": True}

    def down(real):
        def apply(session, items):
            if state["on"]:
                raise OperationalError("UPDATE outbox_message", {}, ConnectionRefusedError("restarting"))
            return real(session, items)

        return apply

    monkeypatch.setattr(routes, "apply_statuses_naming_rows", down(routes.apply_statuses_naming_rows))
    monkeypatch.setattr(routes, "handle_replies", down(routes.handle_replies))
    return state


def test_receipts_and_replies_during_an_outage_are_kept_then_applied(anon_client, session, sent_round, journal, outage):
    _, message, _ = sent_round
    receipt = {"MessageSid": message.provider_message_id, "MessageStatus": "delivered", "AccountSid": "AC1"}
    reply = {"MessageSid": sid(), "From": message.to_number, "To": "+815011112222", "Body": "1", "AccountSid": "AC1"}
    # Twilio does not retry a 5xx: the answers say "taken", and the journal holds them on disk.
    assert post_signed(anon_client, "/webhooks/twilio/status", receipt).status_code == 204
    assert post_signed(anon_client, "/webhooks/twilio/inbound", reply).status_code == 200
    (path,) = journal.pending()
    assert len(path.read_text(encoding="utf-8").splitlines()) == 2
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # phone numbers and texts: owner only
    session.expire_all()
    assert session.get(OutboxMessage, message.id).state == "sent"

    outage["on"] = False  # the database is back; the next webhook replays what was kept (in the background)
    journal._checked_at = 0.0
    later = {"MessageSid": sid(), "MessageStatus": "sent", "AccountSid": "AC1"}
    assert post_signed(anon_client, "/webhooks/twilio/status", later).status_code == 204
    assert eventually(lambda: journal.pending() == [] and anon_client.app.state.journal_replay.done())
    session.expire_all()
    assert session.get(OutboxMessage, message.id).state == "delivered"
    answers = session.exec(select(CheckAnswer).where(CheckAnswer.check_id == message.check_id)).all()
    assert [a.state for a in answers] == ["safe"]
    # Replaying again changes nothing (statuses only move up, a reply is recorded once).
    journal.append("inbound", routes.InboundSms(reply["MessageSid"], reply["From"], reply["To"], "1"))
    journal.replay(anon_client.app.state.unit_of_work)
    assert len(session.exec(select(CheckAnswer).where(CheckAnswer.check_id == message.check_id)).all()) == 1


def test_replay_while_the_database_is_still_away_keeps_the_journal(anon_client, sent_round, journal, outage):
    _, message, _ = sent_round
    journal.append("status", (message.provider_message_id, "delivered", None))
    with pytest.raises(OperationalError):
        journal.replay(lambda: _failing_unit())
    assert len(journal.pending()) == 1


def test_an_entry_that_fails_alone_is_set_aside_and_the_others_applied(anon_client, session, sent_round, journal):
    _, message, _ = sent_round
    journal.append("status", (message.provider_message_id, "delivered", None))
    journal.append("status", ("SMbad", "delivered", None))
    real = routes.apply_statuses_naming_rows

    def poison(session, items):  # a bug that only this entry meets
        if any(provider_id == "SMbad" for provider_id, _, _ in items):
            raise ValueError("bug")
        return real(session, items)

    with patch.object(journal_module, "apply_statuses_naming_rows", poison):
        assert journal.replay(anon_client.app.state.unit_of_work) == 2
    assert journal.pending() == []
    session.expire_all()
    assert session.get(OutboxMessage, message.id).state == "delivered"
    rejected = journal.directory / journal_module.REJECTED
    assert "SMbad" in rejected.read_text(encoding="utf-8") and message.provider_message_id not in rejected.read_text()
    assert stat.S_IMODE(os.stat(rejected).st_mode) == 0o600


def test_appending_never_waits_for_a_replay_in_progress(anon_client, sent_round, journal):
    """A replayer holds no lock an appender needs while it waits for the database."""
    _, message, _ = sent_round
    journal.append("status", (message.provider_message_id, "delivered", None))
    entered, release = threading.Event(), threading.Event()

    @contextmanager
    def slow_unit():  # the database's write lock is busy for as long as the test says
        entered.set()
        release.wait(30)
        with anon_client.app.state.unit_of_work() as unit:
            yield unit

    replayer = threading.Thread(target=journal.replay, args=(slow_unit,))
    replayer.start()
    try:
        assert entered.wait(10)
        appender = threading.Thread(target=journal.append, args=("status", ("SMlater", "sent", None)))
        appender.start()
        appender.join(10)
        assert not appender.is_alive()  # appended while the replay still waits
    finally:
        release.set()
        replayer.join(30)
    (left,) = journal.pending()  # the late entry, in a new file, for the next replay
    assert "SMlater" in left.read_text(encoding="utf-8")


class _failing_unit:
    def __enter__(self):
        raise OperationalError("BEGIN", {}, ConnectionRefusedError("still restarting"))

    def __exit__(self, *exc):
        return False
