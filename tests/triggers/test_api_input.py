"""What the trigger endpoint refuses, who may call it, and who may read its decisions."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bcp_service.models import TriggerDecision, TriggerRecord, TriggerReport
from tests.triggers.dbsetup import chiba, clock, post_bulletin, system  # noqa: F401  (fixtures)
from tests.triggers.helpers import CHIBA, DATA, at

BROKEN = sorted(p.name for p in (DATA / "broken").iterdir())


def nothing_recorded(session) -> bool:
    return all(session.exec(select(model)).first() is None for model in (TriggerReport, TriggerDecision, TriggerRecord))


@pytest.mark.parametrize("name", BROKEN)
def test_a_broken_bulletin_is_refused_with_a_reason_and_nothing_recorded(system, session, chiba, clock, name):
    clock.now = at(10, 20)
    response = system.post(
        "/api/v1/triggers", content=(DATA / "broken" / name).read_bytes(), headers={"Content-Type": "application/xml"}
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["msg"].startswith("気象庁XMLとして読めません (not a usable JMA bulletin): ")
    assert len(error["msg"]) > 40
    assert nothing_recorded(session)


def test_specific_messages_name_what_to_fix(system, chiba, clock):
    clock.now = at(10, 20)

    def message(name: str) -> str:
        return system.post(
            "/api/v1/triggers", content=(DATA / "broken" / name).read_bytes(), headers={"Content-Type": "text/xml"}
        ).json()["detail"][0]["msg"]

    assert "EventID" in message("missing_event_id.xml")
    assert "DTD" in message("billion_laughs.xml")
    assert "well-formed" in message("truncated.xml")
    assert "unsupported bulletin type" in message("unknown_type_vxse52.xml")


def test_invalid_json_events_are_refused_without_echoing_them(system, session, chiba, clock):
    clock.now = at(10, 20)
    missing = system.post(
        "/api/v1/triggers",
        json={"hazard": "earthquake", "municipalities": ["121002"], "occurred_at": "2025-03-01T10:15:00+09:00"},
    )
    assert missing.status_code == 422 and "severity is required" in missing.text
    bad_code = system.post(
        "/api/v1/triggers",
        json={
            "hazard": "earthquake",
            "municipalities": ["12100X"],
            "severity": "5-",
            "occurred_at": "2025-03-01T10:15:00+09:00",
        },
    )
    assert bad_code.status_code == 422 and "12100X" not in str([e["loc"] for e in bad_code.json()["detail"]])
    assert bad_code.json()["detail"][0]["loc"][:2] == ["body", "municipalities"]
    not_json = system.post("/api/v1/triggers", content=b"{not json", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 422
    assert nothing_recorded(session)


def test_other_content_types_are_refused(system):
    response = system.post(
        "/api/v1/triggers", content=b"hazard=earthquake", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 415 and "application/xml" in response.text


def test_only_system_accounts_and_admins_may_send_events(client, client_as, anon_client, chiba, clock):
    clock.now = at(10, 16, 30)
    body = (DATA / "vxse51_chiba_5lower.xml").read_bytes()
    headers = {"Content-Type": "application/xml"}
    assert anon_client.post("/api/v1/triggers", content=body, headers=headers).status_code == 401
    for role in ("prefecture", "hub", "institution", "nurse", "aggregate"):
        assert client_as(role, 1).post("/api/v1/triggers", content=body, headers=headers).status_code == 403
    assert client_as("system").post("/api/v1/triggers", content=body, headers=headers).status_code == 200
    assert client.post("/api/v1/triggers", content=body, headers=headers).json()["reason"] == "duplicate_event"


def test_decisions_are_visible_to_admins_and_the_prefecture(client_as, system, session, chiba, clock):
    post_bulletin(system, "vxse51_drill.xml", clock, at(14, 1, 40))
    post_bulletin(system, "vxse51_chiba_5lower.xml", clock, at(14, 3))
    prefecture = client_as("prefecture", chiba[CHIBA].prefecture_id)  # its own decisions (issue 23)
    page = prefecture.get("/api/v1/triggers/decisions").json()
    assert [d["reason"] for d in page["items"]] == ["threshold_met", "drill_ignored"]
    assert all(d["reason_ja"] and d["decided_at"] for d in page["items"])
    only_drills = prefecture.get("/api/v1/triggers/decisions?drill=true").json()
    assert [d["reason"] for d in only_drills["items"]] == ["drill_ignored"]
    by_reason = prefecture.get("/api/v1/triggers/decisions?reason=threshold_met").json()
    assert by_reason["total"] == 1 and by_reason["items"][0]["record"]["state"] == "pending"
    assert system.get("/api/v1/triggers/decisions").status_code == 403
    assert client_as("hub", 1).get("/api/v1/triggers/decisions").status_code == 403
    report = session.exec(
        select(TriggerReport).where(TriggerReport.kind == "VXSE51", TriggerReport.status == "normal")
    ).one()
    assert len(report.digest) == 64 and report.raw.startswith("<?xml") and report.received_by_name.startswith("system")
