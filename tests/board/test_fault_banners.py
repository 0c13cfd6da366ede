"""The board names what is wrong during a fault (issue 28.2): the provider refusing with 429."""

from datetime import timedelta

from sqlmodel import select

from bcp_service.models import OutboxMessage
from bcp_service.models.base import utcnow


def test_board_says_the_provider_is_refusing_with_429(client, session, scene):
    html = client.get(f"/board/rounds/{scene.round.id}").text
    assert 'id="throttle-status"' not in html
    messages = session.exec(select(OutboxMessage).where(OutboxMessage.round_id == scene.round.id)).all()[:2]
    assert len(messages) == 2
    for message in messages:  # what the worker does on a 429: back in the queue, not an attempt
        message.state, message.throttled, message.next_attempt_at = "queued", 1, utcnow() + timedelta(seconds=30)
        session.add(message)
    session.flush()
    html = client.get(f"/board/rounds/{scene.round.id}").text
    assert 'id="throttle-status"' in html and "送信事業者が送信を制限しています（429）：2 件が再送待ちです" in html
    assert 'id="throttle-status"' in client.get("/board").text
