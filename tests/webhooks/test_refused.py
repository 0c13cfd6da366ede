"""Nothing acknowledged then lost (issue 28.3): a webhook neither the database nor the journal can keep is
answered 503 (Twilio retries it, as the callback URLs' connection overrides ask); a second journal
location takes what the first refuses; the status, the metrics and the board say so."""

import pytest
from sqlmodel import select

from bcp_service import webhook_doors
from bcp_service.channels.callbacks import with_outbox_id
from bcp_service.channels.voice.urls import call_status_url
from bcp_service.models import CheckAnswer, OutboxMessage
from bcp_service.outbox.notifier import status_callback_url
from bcp_service.webhooks.journal import Journal
from tests.page_clients import browser_as  # noqa: F401  (fixture)
from tests.webhooks.conftest import eventually, post_signed, sid
from tests.webhooks.test_journal import outage  # noqa: F401  (fixture)


@pytest.fixture(autouse=True)
def no_refusals():
    webhook_doors.reset()
    yield
    webhook_doors.reset()


def _unwritable(tmp_path):
    """A journal location that cannot take a line: its path is a file (as a read-only mount; root ignores modes)."""
    blocked = tmp_path / "blocked"
    blocked.write_text("not a directory")
    return blocked


def test_neither_database_nor_journal_answers_503_and_nothing_is_kept(
    anon_client, session, app, sent_round, tmp_path, outage
):
    _, message, _ = sent_round
    app.state.webhook_journal = Journal(_unwritable(tmp_path))
    receipt = {"MessageSid": message.provider_message_id, "MessageStatus": "delivered", "AccountSid": "AC1"}
    reply = {"MessageSid": sid(), "From": message.to_number, "To": "+815011112222", "Body": "1", "AccountSid": "AC1"}
    assert post_signed(anon_client, "/webhooks/twilio/status", receipt).status_code == 503
    assert post_signed(anon_client, "/webhooks/twilio/inbound", reply).status_code == 503
    assert webhook_doors.refused_count() == 2 and webhook_doors.journal_unwritable_since() is not None

    # Twilio tries again (the URL's #rc=/#rp=) once the database is back: taken, applied, once.
    outage["on"] = False
    assert post_signed(anon_client, "/webhooks/twilio/status", receipt).status_code == 204
    assert post_signed(anon_client, "/webhooks/twilio/inbound", reply).status_code == 200
    session.expire_all()
    assert session.get(OutboxMessage, message.id).state == "delivered"
    assert len(session.exec(select(CheckAnswer).where(CheckAnswer.check_id == message.check_id)).all()) == 1


def test_the_second_location_takes_what_the_first_refuses_and_is_replayed(
    anon_client, session, app, sent_round, tmp_path, outage
):
    _, message, _ = sent_round
    journal = app.state.webhook_journal = Journal(_unwritable(tmp_path), tmp_path / "second")
    receipt = {"MessageSid": message.provider_message_id, "MessageStatus": "delivered", "AccountSid": "AC1"}
    assert post_signed(anon_client, "/webhooks/twilio/status", receipt).status_code == 204
    (path,) = journal.pending()
    assert path.parent == tmp_path / "second"
    assert webhook_doors.fallback_count() == 1 and webhook_doors.refused_count() == 0

    outage["on"] = False  # the next webhook replays both locations
    journal._checked_at = 0.0
    assert (
        post_signed(
            anon_client, "/webhooks/twilio/status", {"MessageSid": sid(), "MessageStatus": "sent", "AccountSid": "AC1"}
        ).status_code
        == 204
    )

    # The replay runs in the background: wait for it before reading (the test's session shares its connection).
    assert eventually(lambda: journal.pending() == [] and anon_client.app.state.journal_replay.done())
    session.expire_all()
    assert session.get(OutboxMessage, message.id).state == "delivered"


def test_the_callback_urls_ask_twilio_to_retry(settings):
    twilio = settings.model_copy(update={"notifier": "twilio"})
    url = status_callback_url(twilio)
    assert url == "https://bcp.example.jp/webhooks/twilio/status#rc=3&rp=5xx,ct,rt&tt=15000"
    assert (
        with_outbox_id(url, 42) == "https://bcp.example.jp/webhooks/twilio/status?outbox=42#rc=3&rp=5xx,ct,rt&tt=15000"
    )
    assert call_status_url(twilio).endswith("/webhooks/twilio/voice/status#rc=3&rp=5xx,ct,rt&tt=15000")
    off = twilio.model_copy(update={"webhook_retry_count": 0})
    assert status_callback_url(off) == "https://bcp.example.jp/webhooks/twilio/status"


def test_status_metrics_and_board_say_webhooks_were_refused(anon_client, app, browser_as, tmp_path):
    webhook_doors.journal_failed()
    webhook_doors.refused()
    admin = browser_as("admin")
    body = admin.get("/api/v1/system/status").json()
    parts = {(d["part"], d["state"]): d["message"] for d in body["down"]}
    assert ("journal", "unwritable") in parts and "503" in parts[("webhooks", "refused")]
    assert body["webhooks_refused"] == 1
    assert "bcp_webhooks_refused_total 1.0" in admin.get("/metrics").text
    board = admin.get("/board")
    assert board.status_code == 200
    assert 'id="journal-status"' in board.text and "受信記録（ジャーナル）に書き込めません" in board.text
    assert 'id="webhooks-refused"' in board.text and "1 件を 503 で断りました" in board.text
    ops = admin.get("/ops").text
    assert 'data-part="webhooks"' in ops
