"""What a process says about waiting for the database (bcp_service.db_outage): the heartbeats carry it."""

import pytest
from sqlalchemy.exc import OperationalError

from bcp_service import db_outage

RESTARTING = OperationalError("SELECT 1", {}, ConnectionRefusedError("the database is restarting"))


@pytest.fixture(autouse=True)
def nothing_waits():
    db_outage.database_wrote()  # an earlier test's app may have met a simulated outage
    yield
    db_outage.database_wrote()


def test_a_loop_that_meets_an_outage_makes_the_process_wait_until_it_is_back():
    claim, record = db_outage.DatabaseWait("claim"), db_outage.DatabaseWait("record")
    assert db_outage.waiting_since() is None
    claim.note(RESTARTING)
    first = db_outage.waiting_since()
    assert first is not None
    record.note(RESTARTING)
    assert db_outage.waiting_since() == first  # the oldest wait
    claim.succeeded()
    assert db_outage.waiting_since() is not None  # the recorder still waits
    record.succeeded()
    assert db_outage.waiting_since() is None and db_outage.last_wait_seconds() is not None


def test_a_bug_is_not_waiting_for_the_database():
    loop = db_outage.DatabaseWait("claim")
    loop.note(ValueError("a bug"))
    assert db_outage.waiting_since() is None


def test_any_write_of_the_process_ends_its_waits():
    # The API's group commit met the outage; afterwards only /healthz writes: it must not keep saying
    # "waiting for the database" until the next webhook.
    writes = db_outage.DatabaseWait("group-commit-twilio-status")
    writes.note(RESTARTING)
    db_outage.database_wrote()
    assert db_outage.waiting_since() is None and writes.waiting_since is None


def test_a_loop_that_is_gone_waits_for_nothing():
    gone = db_outage.DatabaseWait("an old app's writer")
    gone.note(RESTARTING)
    del gone
    assert db_outage.waiting_since() is None
