"""The nurse page reopens without signal: the service worker shows the last list and the page says how old it is."""

from __future__ import annotations

from tests.board.builders import build_round
from tests.browser.pages import log_in
from tests.factories import create_user

PHONE = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "ja-JP",
    "timezone_id": "Asia/Tokyo",
}


def test_nurse_page_reopens_offline_with_its_last_list(browser, live_server, committed):
    scene = build_round(committed, live_server.settings)
    check = scene.checks["silent_critical"]
    nurse = create_user(committed, "nurse", scene.area.station.id)
    committed.commit()

    phone = browser.new_context(**PHONE)
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server.url, nurse.username, "/nurse")
    assert page.locator("#list-offline").is_hidden()
    assert "時点の一覧（1分以内）" in page.locator("#list-age").inner_text()
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    for _ in range(100):  # the worker keeps the list once installed
        if page.evaluate("caches.open('bcp-nurse-v1').then(c => c.match('/nurse')).then(r => !!r)"):
            break
        page.wait_for_timeout(100)

    phone.set_offline(True)
    page.reload()  # without signal: the kept copy
    assert page.locator(f"#c{check.id} .pt-name").inner_text().startswith("未回答 重症")
    assert page.locator("#list-offline").is_visible()
    assert "電波がありません" in page.locator("#list-offline").inner_text()
    assert "時点の一覧" in page.locator("#list-age").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    # A result taken offline still waits in the queue for the signal to come back.
    card = page.locator(f"#c{check.id}")
    card.locator("summary").click()
    card.locator('button[value="safe"]').click()
    page.wait_for_selector("#queue:not([hidden])", timeout=2000)
    assert page.locator("#queue-count").inner_text() == "1"

    phone.set_offline(False)
    page.wait_for_selector("#queue[hidden]", state="attached", timeout=8000)
    page.goto(f"{live_server.url}/nurse")
    assert page.locator("#list-offline").is_hidden()

    # Logging out forgets the kept list (it holds names and phone numbers).
    page.click('form[action="/logout"] button')
    page.wait_for_url("**/login*")
    assert page.evaluate("caches.open('bcp-nurse-v1').then(c => c.match('/nurse')).then(r => !r)")
    assert errors == []
    phone.close()
