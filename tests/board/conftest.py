import pytest

from tests.board.builders import build_round
from tests.browser.server import committed, live_server  # noqa: F401  (fixtures)
from tests.page_clients import browser_as  # noqa: F401  (fixture)


@pytest.fixture
def scene(session, settings):
    return build_round(session, settings)
