"""The nurse page on a 360 px phone: a result recorded offline waits on the phone, is sent when the
connection returns, and reaches the board once."""

from __future__ import annotations

from sqlmodel import select

from bcp_service.models import CheckAnswer
from tests.board.builders import build_round
from tests.browser.pages import log_in
from tests.factories import create_user

PHONE = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "ja-JP",
}


def test_result_recorded_offline_is_sent_once_when_back_online(browser, live_server, committed):
    scene = build_round(committed, live_server.settings)
    check = scene.checks["silent_critical"]
    nurse = create_user(committed, "nurse", scene.area.station.id)
    admin = create_user(committed, "admin")
    committed.commit()

    board_context = browser.new_context(viewport={"width": 1300, "height": 900})
    board = board_context.new_page()
    log_in(board, live_server.url, admin.username, f"/board/rounds/{scene.round.id}")
    board.wait_for_selector("#live-status.on", timeout=5000)

    phone = browser.new_context(**PHONE)
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server.url, nurse.username, "/nurse")
    card = page.locator(f"#c{check.id}")
    assert card.locator(".pt-name").inner_text().startswith("未回答 重症")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing wider than the phone
    call = card.locator("a.call").first
    assert call.get_attribute("href").startswith("tel:+81")
    assert call.bounding_box()["height"] >= 44  # a tap target

    phone.set_offline(True)
    card.locator("summary").click()
    card.locator('input[name="method"][value="visit"]').check()
    card.locator('input[name="hours"]').fill("3")
    card.locator('button[value="power_out"]').click()
    page.wait_for_selector("#queue:not([hidden])", timeout=2000)
    assert page.locator("#queue-count").inner_text() == "1"
    assert "未送信" in page.locator("#queue").inner_text()
    assert "未送信: 停電" in card.locator('[data-role="pending"]').inner_text()
    page.wait_for_timeout(1500)  # a retry or two fail while offline
    committed.rollback()  # a fresh snapshot: the server committed in its own sessions
    assert committed.exec(select(CheckAnswer).where(CheckAnswer.check_id == check.id)).all() == []

    phone.set_offline(False)
    page.wait_for_selector("#queue[hidden]", state="attached", timeout=5000)
    assert "送信済み: 停電" in card.locator('[data-role="pending"]').inner_text()
    assert card.locator('[data-role="state"]').inner_text() == "停電"

    board.wait_for_selector(f'#feed li[data-check="{check.id}"]', timeout=2000)
    feed_line = board.locator(f'#feed li[data-check="{check.id}"]')
    assert (
        feed_line.count() == 1 and "看護師（訪問）" in feed_line.inner_text() and "残り3時間" in feed_line.inner_text()
    )

    committed.rollback()  # a fresh snapshot: the server committed in its own sessions
    answers = committed.exec(select(CheckAnswer).where(CheckAnswer.check_id == check.id)).all()
    assert len(answers) == 1 and answers[0].channel == "nurse" and answers[0].idempotency_key.startswith("nurse:")
    # The phone sends the same result again (its reply was lost): still one answer.
    client_id = answers[0].idempotency_key.split(":", 2)[-1]  # "nurse:<station>:<client_id>"
    status = page.evaluate(
        """async ([clientId, checkId]) => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const r = await fetch('/api/v1/nurse/results', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
              body: JSON.stringify({client_id: clientId, check_id: checkId, state: 'power_out', hours_left: 3})});
            return [r.status, (await r.json()).created];
        }""",
        [client_id, check.id],
    )
    assert status == [200, False]
    committed.rollback()  # a fresh snapshot: the server committed in its own sessions
    assert len(committed.exec(select(CheckAnswer).where(CheckAnswer.check_id == check.id)).all()) == 1
    board.wait_for_timeout(600)
    assert board.locator(f'#feed li[data-check="{check.id}"]').count() == 1
    assert errors == []
    phone.close()
    board_context.close()
