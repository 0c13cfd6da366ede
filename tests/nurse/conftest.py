from tests.board.conftest import browser_as, scene  # noqa: F401  (fixtures)
