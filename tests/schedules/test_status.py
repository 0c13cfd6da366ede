"""The status API shows whether the scheduler (and the sender) are running."""

from datetime import timedelta

from bcp_service.models import ServiceHeartbeat
from bcp_service.models.base import utcnow
from bcp_service.schedules.process import SchedulerProcess
from tests.schedules.conftest import borrowed


def component(client, name):
    response = client.get("/api/v1/system/status")
    assert response.status_code == 200, response.text
    return response.json(), next(c for c in response.json()["components"] if c["name"] == name)


def test_no_scheduler_ever_started_is_reported_stale(client):
    status, scheduler = component(client, "scheduler")
    assert scheduler == {
        "name": "scheduler",
        "stale": True,
        "last_beat_at": None,
        "alive_instances": 0,
        "waiting_for_database_since": None,
        "instances": [],
    }
    assert status["ok"] is False


def test_a_beating_scheduler_is_live_and_one_that_stopped_beating_turns_stale(client, session, settings):
    process = SchedulerProcess(session_factory=borrowed(session), settings=settings, instance_id="scheduler:host:1")
    process.run_once()
    _, scheduler = component(client, "scheduler")
    assert scheduler["stale"] is False and scheduler["alive_instances"] == 1
    (instance,) = scheduler["instances"]
    assert instance["instance_id"] == "scheduler:host:1" and instance["alive"] is True
    assert instance["info"]["runs"]["schedules"] == 1

    row = session.get(ServiceHeartbeat, "scheduler:host:1")
    row.beat_at = utcnow() - timedelta(seconds=settings.heartbeat_stale_seconds + 1)
    session.add(row)
    session.flush()
    _, scheduler = component(client, "scheduler")
    assert scheduler["stale"] is True and scheduler["instances"][0]["alive"] is False
    assert scheduler["last_beat_at"] is not None


def test_workers_are_reported_from_the_one_heartbeat_table(client, session):
    now = utcnow()
    session.add(
        ServiceHeartbeat(
            instance_id="w1",
            name="worker",
            host="h",
            process_id=1,
            started_at=now,
            beat_at=now,
            info={"sent": 3, "failed": 0},
        )
    )
    session.add(
        ServiceHeartbeat(
            instance_id="scheduler:h:2", name="scheduler", host="h", process_id=2, started_at=now, beat_at=now
        )
    )
    session.flush()
    status, worker = component(client, "worker")
    assert worker["stale"] is False and worker["instances"][0]["info"] == {"sent": 3, "failed": 0}
    assert status["ok"] is True


def test_status_is_for_operators_and_integrations(client_as):
    assert client_as("system").get("/api/v1/system/status").status_code == 200
    assert client_as("nurse", 1).get("/api/v1/system/status").status_code == 403


def test_a_scheduler_whose_jobs_meet_an_outage_beats_that_it_waits_for_the_database(client, session, settings):
    from sqlalchemy.exc import OperationalError

    down = {"now": True}

    def needs_the_database(_now):
        if down["now"]:
            raise OperationalError("SELECT", {}, ConnectionRefusedError("the database is restarting"))

    process = SchedulerProcess(
        session_factory=borrowed(session),
        settings=settings,
        instance_id="scheduler:host:9",
        extra_jobs={"probe": needs_the_database},
    )
    process.run_once()  # the job fails for the outage; the beat (here it can be written) says so
    _, scheduler = component(client, "scheduler")
    assert scheduler["stale"] is False and scheduler["waiting_for_database_since"] is not None
    assert scheduler["instances"][0]["waiting_for_database_since"] == scheduler["waiting_for_database_since"]
    assert process.runs["probe"] == 0

    down["now"] = False
    process.run_once()
    _, scheduler = component(client, "scheduler")
    assert scheduler["waiting_for_database_since"] is None and process.runs["probe"] == 1
    assert scheduler["instances"][0]["info"]["database_waited_seconds"] >= 0
