"""The board's live stream recovers by itself, its chart shows the real answer rate, and a closed round
does not claim to be live."""

from __future__ import annotations

from bcp_service.models.rounds import RoundState
from tests.board.builders import build_round, record
from tests.browser.pages import log_in
from tests.factories import create_user


def test_the_stream_reconnects_after_errors_and_catches_up(browser, live_server, committed):
    from playwright.sync_api import expect

    scene = build_round(committed, live_server.settings)
    check = scene.checks["silent_critical"]
    admin = create_user(committed, "admin")
    committed.commit()

    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="ja-JP")
    failures = {"left": 0}

    def events(route) -> None:
        if failures["left"] > 0:  # the server answering 500, as SQLite's "database is locked" once made it
            failures["left"] -= 1
            route.fulfill(status=500, body="Internal Server Error")
        else:
            route.continue_()

    context.route("**/events*", events)
    page = context.new_page()
    log_in(page, live_server.url, admin.username, f"/board/rounds/{scene.round.id}")
    page.wait_for_selector("#live-status.on", timeout=5000)
    # The chart plots the answers already in, not a flat 0 %.
    assert page.locator("#chart svg text[font-weight='700']").text_content() != "0.0%"

    failures["left"] = 2
    live_server.stop()  # a restart: the stream drops, and the first tries answer 500
    record(committed, check, "needs_help")  # an answer that comes in while the board is cut off
    committed.commit()
    live_server.start()
    # Two 500s, then the stream is back (backoff 1 s, 2 s, ...) and its snapshot carries the missed answer.
    expect(page.locator("#live-status")).to_have_class("live-status no-print on", timeout=30000)
    expect(page.locator(f'#feed li[data-check="{check.id}"]')).to_have_count(1, timeout=5000)
    assert page.locator('[data-state="needs_help"]').inner_text() == "2"
    assert failures["left"] == 0
    context.close()


def test_a_closed_round_does_not_say_live(browser, live_server, committed):
    scene = build_round(committed, live_server.settings)
    scene.round.state = RoundState.closed
    committed.add(scene.round)
    admin = create_user(committed, "admin")
    committed.commit()

    page = browser.new_context(locale="ja-JP").new_page()
    log_in(page, live_server.url, admin.username, f"/board/rounds/{scene.round.id}")
    page.wait_for_timeout(1500)
    status = page.locator("#live-status").inner_text()
    assert "ライブ更新中" not in status and "終了" in status
