import pytest

from tests.triggers.helpers import PATIENTS


@pytest.fixture
def patients() -> frozenset[str]:
    return PATIENTS
