"""The status API shows whether the scheduler (and the sender) are running."""

from datetime import timedelta

from bcp_service.models import ServiceHeartbeat, WorkerHeartbeat
from bcp_service.models.base import utcnow
from bcp_service.schedules.process import SchedulerProcess
from tests.schedules.conftest import borrowed


def component(client, name):
    response = client.get("/api/v1/system/status")
    assert response.status_code == 200, response.text
    return response.json(), next(c for c in response.json()["components"] if c["name"] == name)


def test_no_scheduler_ever_started_is_reported_stale(client):
    status, scheduler = component(client, "scheduler")
    assert scheduler == {"name": "scheduler", "stale": True, "last_beat_at": None, "alive_instances": 0,
                         "instances": []}
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


def test_workers_are_reported_from_their_own_heartbeats(client, session):
    now = utcnow()
    session.add(WorkerHeartbeat(worker_id="w1", hostname="h", pid=1, started_at=now, beat_at=now, sent=3))
    session.add(ServiceHeartbeat(instance_id="scheduler:h:2", name="scheduler", host="h", process_id=2,
                                 started_at=now, beat_at=now))
    session.flush()
    status, worker = component(client, "worker")
    assert worker["stale"] is False and worker["instances"][0]["info"] == {"sent": 3, "failed": 0}
    assert status["ok"] is True


def test_status_is_for_operators_and_integrations(client_as):
    assert client_as("system").get("/api/v1/system/status").status_code == 200
    assert client_as("nurse", 1).get("/api/v1/system/status").status_code == 403
