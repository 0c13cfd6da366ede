import pytest
from fastapi.testclient import TestClient

from bcp_service.auth.deps import SESSION_COOKIE
from bcp_service.auth.service import start_web_session
from tests.board.builders import build_round
from tests.browser.server import committed, live_server  # noqa: F401  (fixtures)
from tests.factories import create_user


@pytest.fixture
def scene(session, settings):
    return build_round(session, settings)


@pytest.fixture
def browser_as(app, session, settings):
    """``browser_as(role, scope_id)``: a cookie-session client, as a person using the pages."""
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
