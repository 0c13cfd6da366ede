import pytest

from bcp_service.twilio_sim import RunningSim, start_sim_in_thread
from tests.twilio_sim.support import restore_defaults


@pytest.fixture(scope="session")
def notifier_sim():
    sim = start_sim_in_thread()
    yield sim
    sim.stop()


@pytest.fixture
def sim(notifier_sim: RunningSim) -> RunningSim:
    restore_defaults(notifier_sim)
    return notifier_sim
