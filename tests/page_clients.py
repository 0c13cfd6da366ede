"""Cookie-session clients for page tests: a person using the pages, with the form's CSRF token."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from bcp_service.auth.deps import SESSION_COOKIE
from bcp_service.auth.service import start_web_session
from tests.factories import create_user


@pytest.fixture
def browser_as(app, session, settings):
    """``browser_as(role, scope_id)``: a logged-in page client; ``.user`` is its account."""
    browsers: list[TestClient] = []

    def make(role: str, scope_id: int | None = None) -> TestClient:
        user = create_user(session, role, scope_id)
        token, _row = start_web_session(session=session, user=user, settings=settings)
        browser = TestClient(app, cookies={SESSION_COOKIE: token})
        browser.user = user
        browsers.append(browser)
        return browser

    yield make
    for browser in browsers:
        browser.close()


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def field_error(html: str, field: str) -> str | None:
    found = re.search(rf'id="e-{field}">([^<]+)<', html)
    return found.group(1) if found else None
