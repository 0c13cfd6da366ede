import pytest

from bcp_service.twilio_sim import RunningSim, ThreadedServer, start_sim_in_thread
from tests.twilio_sim.support import Receiver, restore_defaults


@pytest.fixture(scope="session")
def sim_server():
    sim = start_sim_in_thread()
    yield sim
    sim.stop()


@pytest.fixture
def sim(sim_server: RunningSim) -> RunningSim:
    restore_defaults(sim_server)
    return sim_server


@pytest.fixture(scope="session")
def receiver_server():
    receiver = Receiver()
    server = ThreadedServer(receiver.app).start()
    receiver.base_url = server.base_url
    yield receiver
    server.stop()


@pytest.fixture
def receiver(receiver_server: Receiver) -> Receiver:
    receiver_server.clear()
    return receiver_server
