"""Two-factor sign-in in Chromium (issue 23.2): with BCP_REQUIRE_TWO_FACTOR on, a prefecture officer
without a second factor is sent to enrol at login (QR and secret shown), keeps the recovery codes,
signs out, and signs in again with the password and a code computed by pyotp. The account page then
shows the second factor as registered. Each page must fit 360 px."""

from __future__ import annotations

import time

import pyotp

from tests.browser.pages import PASSWORD, PHONE, page_width
from tests.browser.server import LiveServer
from tests.factories import create_prefecture, create_user


def _fits(page) -> None:
    assert page_width(page) <= 360, page.url


def test_enrol_sign_out_and_sign_in_with_a_code(browser, settings, engine, committed, monkeypatch):
    user = create_user(committed, "prefecture", create_prefecture(committed).id)
    committed.commit()
    monkeypatch.setenv("BCP_REQUIRE_TWO_FACTOR", "1")
    server = LiveServer(settings, engine).start()
    try:
        context = browser.new_context(**PHONE)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        base = server.url
        page.goto(f"{base}/board")
        page.fill("#username", user.username)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/login/enrol*")
        assert page.locator("#qr svg").count() == 1
        assert page.locator("#totp-uri").text_content().startswith("otpauth://totp/")
        _fits(page)
        secret = page.locator("#totp-secret").inner_text().replace(" ", "")
        page.fill("#code", pyotp.TOTP(secret).now())
        page.click("button[type=submit]")
        page.wait_for_selector("#recovery-codes")
        assert page.locator("#recovery-codes li").count() == 10
        _fits(page)
        page.click("#continue")
        page.wait_for_url(f"{base}/board")

        page.click("text=ログアウト")
        page.wait_for_url(f"{base}/login*")
        page.fill("#username", user.username)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/login/code*")
        _fits(page)
        page.fill("#code", "000000")
        page.click("button[type=submit]")
        assert "確認コードが違う" in page.locator("#error").inner_text()
        page.fill("#code", pyotp.TOTP(secret).at(time.time() + 30))  # the enrolment used the current step
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")
        page.goto(f"{base}/account")
        assert "登録済み" in page.locator("#two-factor-state").inner_text()
        _fits(page)
        assert errors == []
        context.close()
    finally:
        server.stop()
