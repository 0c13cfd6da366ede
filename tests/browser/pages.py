"""Helpers for driving the pages as a person does."""

from __future__ import annotations

PASSWORD = "correct horse battery"  # tests.factories.create_user


def log_in(page, base_url: str, username: str, next_path: str) -> None:
    page.goto(f"{base_url}{next_path}")
    assert "/login" in page.url, "an anonymous visit should land on the login form"
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}{next_path}*")
