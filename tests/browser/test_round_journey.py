"""A prefecture officer starts a drill round for one region from the pages, watches it on the board,
and closes it; the same pages at 360 px."""

from __future__ import annotations

from sqlmodel import select

from bcp_service.models import OutboxMessage, SafetyCheck, SafetyRound
from tests.board.builders import build_area, phone
from tests.browser.pages import log_in
from tests.factories import create_patient, create_user

PHONE = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "ja-JP",
}


def test_officer_starts_watches_and_closes_a_drill_round(browser, live_server, committed):
    area = build_area(committed)
    in_region = [create_patient(committed, area.city, phones=[phone()], name=f"圏内 {i}") for i in range(3)]
    create_patient(committed, area.city, phones=[], name="連絡先なし")
    create_patient(committed, area.town, phones=[phone()], name="圏外 花子")  # another region: not reached
    officer = create_user(committed, "prefecture", area.prefecture.id)
    committed.commit()

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server.url, officer.username, "/board")
    assert "安否確認はまだありません" in page.inner_text("main")
    page.click("#start-round")  # the empty board leads to the form
    page.wait_for_url("**/rounds/new")
    assert page.locator('input[name="drill"][value="1"]').is_checked()  # a drill unless chosen otherwise
    page.check(f'input[name="region_id"][value="{area.region.id}"]')
    page.fill("#title", "圏域訓練")
    page.click("#preview-button")
    page.wait_for_selector("#preview")
    assert page.inner_text("#pv-people") == "4 人"
    assert page.inner_text("#pv-messages").startswith("3 通") and "SMS 3通" in page.inner_text("#pv-messages")
    assert "1 人" in page.inner_text("#pv-no-contact")
    assert "セグメント" in page.inner_text("#pv-segments") and "約" in page.inner_text("#pv-time")
    page.click("#start-button")
    page.wait_for_url("**/rounds/*?started=1")
    round_id = int(page.url.split("/rounds/")[1].split("?")[0])
    assert "【訓練】" in page.inner_text("h1") and "安否確認を開始しました" in page.inner_text("main")

    committed.rollback()
    safety_round = committed.get(SafetyRound, round_id)
    assert (safety_round.drill, safety_round.target_count, safety_round.message_count) == (True, 4, 3)
    assert safety_round.started_by_name == officer.username

    page.click("#board-link")
    page.wait_for_url(f"**/board/rounds/{round_id}")
    page.wait_for_selector("#live-status.on", timeout=5000)
    assert page.inner_text('[data-state="no_answer"]') == "3"  # the fourth has no SMS contact
    # Someone answers through the link in their SMS: the board shows it without a reload.
    check = committed.exec(
        select(SafetyCheck).where(SafetyCheck.round_id == round_id, SafetyCheck.patient_id == in_region[0].id)
    ).one()
    token = committed.exec(select(OutboxMessage.answer_token).where(OutboxMessage.check_id == check.id)).first()
    answer = context.new_page()
    answer.goto(f"{live_server.url}/a/{token}")
    answer.click('button[value="safe"]')
    page.locator('[data-state="safe"]:text-is("1")').wait_for(timeout=5000)
    assert page.inner_text('[data-state="no_answer"]') == "2"

    page.goto(f"{live_server.url}/rounds/{round_id}")
    assert "1</strong> / 4 人が回答" in page.content()
    page.check("#confirm-close")  # closing asks first (issue 27.7)
    page.click("#close-button")
    page.wait_for_url("**?closed=1")
    assert page.inner_text("#round-state") == "終了" and page.locator("#close-form").count() == 0
    committed.rollback()
    assert committed.get(SafetyRound, round_id).state == "closed"

    # The same pages on a phone: nothing wider than the screen.
    phone_context = browser.new_context(**PHONE)
    small = phone_context.new_page()
    log_in(small, live_server.url, officer.username, f"/board/rounds/{round_id}")
    for path in (
        f"/board/rounds/{round_id}",
        "/rounds",
        f"/rounds/{round_id}",
        f"/rounds/new?preview=1&region_id={area.region.id}",
    ):
        small.goto(f"{live_server.url}{path}")
        assert small.evaluate("document.documentElement.scrollWidth") <= 360, path
    assert errors == []
