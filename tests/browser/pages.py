"""Helpers for driving the pages as a person does."""

from __future__ import annotations

PASSWORD = "correct horse battery"  # tests.factories.create_user
# A phone as the browser tests hold it: 360 px wide, touch, Japanese.
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 1,
    "is_mobile": True,
    "has_touch": True,
    "locale": "ja-JP",
}


def log_in(page, base_url: str, username: str, next_path: str) -> None:
    page.goto(f"{base_url}{next_path}")
    assert "/login" in page.url, "an anonymous visit should land on the login form"
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}{next_path}*")


def page_width(page) -> int:
    """The page's scroll width once the page a click led to has loaded (a click that navigates
    returns before the new document exists; measuring then reads a null documentElement)."""
    for _ in range(5):
        page.wait_for_load_state("load")
        try:
            width = page.evaluate("document.documentElement ? document.documentElement.scrollWidth : null")
        except Exception as exc:  # the document navigated away while being measured
            if "context was destroyed" not in str(exc) and "navigat" not in str(exc):
                raise
            continue
        if width is not None:
            return int(width)
    raise AssertionError(f"{page.url} never finished loading")
