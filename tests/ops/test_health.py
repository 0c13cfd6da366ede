"""/healthz and the system status prove the work and say which part is down (issue 28 item 1)."""

from __future__ import annotations

import json
import time

from sqlalchemy.exc import OperationalError

from bcp_service.models import HealthProbe
from bcp_service.ops import status as ops_status
from bcp_service.webhooks.journal import journal_for


def test_healthz_inserts_and_rolls_back_and_reports_the_journal(working_client, engine):
    answer = working_client.get("/healthz")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "ok" and body["database_writable"] is True
    assert body["journal"]["writable"] is True and body["journal"]["entries"] == 0
    from sqlmodel import Session, select

    with Session(engine) as session:
        assert session.exec(select(HealthProbe)).all() == []  # the probe's row never stays


def test_healthz_is_503_when_the_database_refuses_writes(faulty_client):
    answer = faulty_client.get("/healthz")
    assert answer.status_code == 503, answer.text
    assert answer.json()["status"] == "unavailable" and answer.json()["database_writable"] is False
    assert "書き込めません" in answer.json()["detail"]


def test_status_says_the_database_is_unwritable_not_500(faulty_client):
    answer = faulty_client.get("/api/v1/system/status")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["database"] == "unwritable" and body["ok"] is False
    assert next((d["part"], d["state"]) for d in body["down"]) == ("database", "unwritable")
    assert "データベースに書き込めません" in body["down"][0]["message"]


def test_status_says_the_database_is_unreadable(working_client, monkeypatch):
    def unreadable(**_kwargs):
        raise OperationalError("SELECT service_heartbeat", {}, Exception("connection refused"))

    monkeypatch.setattr(ops_status, "read_system_status", unreadable)
    answer = working_client.get("/api/v1/system/status")
    assert answer.status_code == 503
    body = answer.json()
    assert body["database"] == "unreadable" and body["down"][0]["state"] == "unreadable"


def test_an_outage_met_by_the_login_check_is_503_naming_the_database(working_client, monkeypatch):
    from bcp_service.auth import deps

    def refused(*_args):
        raise OperationalError("SELECT api_token", {}, Exception("server closed the connection"))

    monkeypatch.setattr(deps, "resolve_principal", refused)
    answer = working_client.get("/api/v1/system/status")
    assert answer.status_code == 503
    assert answer.json()["down"] == [{"part": "database", "state": "unavailable"}]


def test_a_journal_that_cannot_be_written_is_reported(working_client):
    journal = journal_for(working_client.app)
    journal.directory.parent.mkdir(parents=True, exist_ok=True)
    journal.directory.rmdir() if journal.directory.is_dir() else None
    journal.directory.write_text("not a directory")  # as a read-only mount would (root ignores modes)
    try:
        health = working_client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert health.json()["journal"]["writable"] is False
        body = working_client.get("/api/v1/system/status").json()
        assert ("journal", "unwritable") in [(d["part"], d["state"]) for d in body["down"]]
    finally:
        journal.directory.unlink()


def test_the_journal_backlog_is_counted_with_its_oldest_entry(working_client):
    journal = journal_for(working_client.app)
    journal.directory.mkdir(parents=True, exist_ok=True)
    pending = journal.directory / "webhooks-elsewhere-1.jsonl"
    at = time.time() - 120
    pending.write_text("".join(json.dumps({"kind": "status", "item": [], "at": at + i}) + "\n" for i in range(3)))
    try:
        report = working_client.get("/healthz").json()["journal"]
        assert report["files"] == 1 and report["entries"] == 3
        assert report["oldest_at"].startswith(time.strftime("%Y-%m-%d", time.gmtime(at)))
    finally:
        pending.unlink()


def test_low_disk_space_makes_the_probes_fail(working_client, monkeypatch, engine):
    working_client.app.state.settings = working_client.app.state.settings.model_copy(
        update={"health_min_free_mb": 10**12}
    )
    answer = working_client.get("/api/v1/system/status").json()
    assert answer["journal"]["writable"] is False and answer["journal"]["error"] == "disk_low"
    if engine.dialect.name == "sqlite":
        assert answer["database"] == "unwritable" and "空き容量" in answer["down"][0]["message"]


def test_provider_paused_and_throttled_are_named(working_client, engine):
    from datetime import timedelta

    from sqlmodel import Session

    from bcp_service.models import OutboxMessage, ServiceHeartbeat
    from bcp_service.models.base import utcnow

    now = utcnow()
    with Session(engine) as session:
        session.add(
            ServiceHeartbeat(
                instance_id="w1",
                name="worker",
                host="h",
                process_id=1,
                started_at=now,
                beat_at=now,
                info={"provider_unavailable_since": now.isoformat(), "lanes_down": ["sms"]},
            )
        )
        session.add(OutboxMessage(to_number="+819012345678", throttled=2, next_attempt_at=now + timedelta(seconds=60)))
        session.commit()
    down = {(d["part"], d["state"]): d for d in working_client.get("/api/v1/system/status").json()["down"]}
    assert "sms" in down[("provider", "paused")]["message"]
    assert "429" in down[("provider", "throttled")]["message"]
