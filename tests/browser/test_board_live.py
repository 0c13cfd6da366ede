"""The board in a real browser: an answer sent through its answer link shows up within one second."""

from __future__ import annotations

import time

import httpx
from sqlmodel import select

from bcp_service.models import CheckAnswer
from tests.board.builders import answer_token, build_round
from tests.browser.pages import log_in
from tests.factories import create_user


def test_answer_through_the_link_appears_on_an_open_board_within_a_second(browser, live_server, committed):
    from playwright.sync_api import expect

    scene = build_round(committed, live_server.settings)
    check = scene.checks["silent_critical"]
    token = answer_token(committed, check)
    admin = create_user(committed, "admin")
    committed.commit()

    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="ja-JP")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server.url, admin.username, f"/board/rounds/{scene.round.id}")
    page.wait_for_selector("#live-status.on", timeout=5000)
    assert page.locator(".drill-banner").inner_text().startswith("【訓練】")
    assert page.locator('[data-state="needs_help"]').inner_text() == "1"
    assert page.locator("#chart svg path.line").count() == 1

    response = httpx.post(f"{live_server.url}/a/{token}", data={"state": "needs_help", "nonce": "browser-1"})
    answered = time.perf_counter()
    assert response.status_code == 200 and "回答を受け付けました" in response.text
    page.wait_for_selector(f'#feed li[data-check="{check.id}"]', timeout=1000)
    shown = time.perf_counter() - answered
    assert shown < 1.0, f"answer to screen took {shown:.3f} s"

    assert page.locator('[data-state="needs_help"]').inner_text() == "2"
    # The lists follow within board_list interval (1 s), the feed line and counts at once.
    expect(page.locator("#sec-priority")).to_contain_text("未回答 重症", timeout=2500)
    assert page.locator(f'#feed li[data-check="{check.id}"]').count() == 1
    assert "未回答 重症" not in page.locator("#sec-silent").inner_text()
    assert errors == []
    answers = committed.exec(select(CheckAnswer).where(CheckAnswer.check_id == check.id)).all()
    assert [a.channel for a in answers] == ["link"]
    context.close()
    print(f"\nanswer to screen: {shown * 1000:.0f} ms")
