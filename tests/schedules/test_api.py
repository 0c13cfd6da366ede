from sqlmodel import select

from bcp_service.models import AuditEvent, RoundSchedule
from tests.schedules.conftest import add_patient


def body(area, **overrides) -> dict:
    return {
        "name": "月例訓練",
        "cron": "0 10 1 * *",
        "target": {"municipality_ids": [area.city.id]},
        "drill": True,
        **overrides,
    }


def test_create_read_update_and_delete_a_schedule(client, session, area):
    created = client.post(
        "/api/v1/schedules",
        json=body(
            area,
            escalation_policy={
                "steps": [{"after_minutes": 20, "action": "resend"}, {"after_minutes": 60, "action": "unreachable"}]
            },
        ),
    )
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["timezone"] == "Asia/Tokyo" and schedule["active"] is True and schedule["reason"] == "scheduled"
    assert len(schedule["next_fire_times"]) == 5
    assert all(t.endswith("+09:00") and "T10:00:00" in t and t[8:10] == "01" for t in schedule["next_fire_times"])
    assert schedule["escalation_policy"]["steps"][0] == {"after_minutes": 20.0, "action": "resend"}

    listed = client.get("/api/v1/schedules").json()
    assert [s["id"] for s in listed["items"]] == [schedule["id"]]

    typhoon = client.patch(
        f"/api/v1/schedules/{schedule['id']}",
        json={
            "interval_minutes": 360,
            "starts_at": "2030-09-01T12:00:00+09:00",
            "ends_at": "2030-09-02T12:00:00+09:00",
        },
    )
    assert typhoon.status_code == 200, typhoon.text
    changed = typhoon.json()
    assert changed["cron"] is None and changed["interval_minutes"] == 360
    assert changed["next_fire_times"][:2] == ["2030-09-01T12:00:00+09:00", "2030-09-01T18:00:00+09:00"]
    assert len(changed["next_fire_times"]) == 5
    assert changed["effective_from"] > schedule["effective_from"]

    deleted = client.delete(f"/api/v1/schedules/{schedule['id']}")
    assert deleted.status_code == 200 and deleted.json()["active"] is False
    assert client.get(f"/api/v1/schedules/{schedule['id']}").status_code == 404
    assert client.get("/api/v1/schedules").json()["total"] == 0
    assert session.get(RoundSchedule, schedule["id"]).deleted_at is not None
    actions = session.exec(select(AuditEvent.action).where(AuditEvent.action.like("schedule.%"))).all()
    assert sorted(actions) == ["schedule.create", "schedule.delete", "schedule.update"]


def test_invalid_schedules_are_refused_with_the_field(client, area):
    both = client.post("/api/v1/schedules", json=body(area, interval_minutes=60))
    assert both.status_code == 422 and "exactly one" in both.text
    too_often = client.post("/api/v1/schedules", json=body(area, cron="*/5 * * * *"))
    assert too_often.status_code == 422 and too_often.json()["detail"][0]["loc"] == ["body", "cron"]
    assert "minimum" in too_often.text
    bad_cron = client.post("/api/v1/schedules", json=body(area, cron="0 25 * * *"))
    assert bad_cron.status_code == 422
    bad_zone = client.post("/api/v1/schedules", json=body(area, timezone="Mars/Olympus"))
    assert bad_zone.status_code == 422 and "time zone" in bad_zone.text
    reversed_window = client.post(
        "/api/v1/schedules", json=body(area, starts_at="2030-09-02T00:00:00+09:00", ends_at="2030-09-01T00:00:00+09:00")
    )
    assert reversed_window.status_code == 422
    unknown_code = client.post("/api/v1/schedules", json=body(area, target={"municipality_codes": ["999999"]}))
    assert unknown_code.status_code == 422 and "999999" in unknown_code.text
    bad_policy = client.post(
        "/api/v1/schedules",
        json=body(
            area,
            escalation_policy={
                "steps": [{"after_minutes": 30, "action": "unreachable"}, {"after_minutes": 60, "action": "call"}]
            },
        ),
    )
    assert bad_policy.status_code == 422
    naive = client.post("/api/v1/schedules", json=body(area, starts_at="2030-09-01T00:00:00"))
    assert naive.status_code == 422


def test_hubs_see_and_change_only_their_own_schedules(client, client_as, session, area):
    hub = client_as("hub", area.hub.id)
    other_hub = client_as("hub", area.hub.id + 1000)
    mine = hub.post("/api/v1/schedules", json=body(area))
    assert mine.status_code == 201, mine.text
    admins = client.post("/api/v1/schedules", json=body(area, name="県の訓練")).json()
    assert [s["id"] for s in hub.get("/api/v1/schedules").json()["items"]] == [mine.json()["id"]]
    assert other_hub.get("/api/v1/schedules").json()["total"] == 0
    assert other_hub.patch(f"/api/v1/schedules/{mine.json()['id']}", json={"active": False}).status_code == 404
    assert hub.get(f"/api/v1/schedules/{admins['id']}").status_code == 404
    assert client.get("/api/v1/schedules").json()["total"] == 2
    for role in ("institution", "nurse", "aggregate", "system"):
        assert client_as(role, 1).get("/api/v1/schedules").status_code == 403


def test_firings_are_listed_newest_first(client, session, area):
    from bcp_service.models import ScheduleFiring
    from tests.schedules.conftest import utc

    add_patient(session, area.city)
    schedule = client.post("/api/v1/schedules", json=body(area)).json()
    for day, outcome in ((1, "missed"), (2, "started")):
        session.add(
            ScheduleFiring(schedule_id=schedule["id"], fire_time=utc(2030, 1, day), outcome=outcome, instance_id="test")
        )
    session.flush()
    page = client.get(f"/api/v1/schedules/{schedule['id']}/firings").json()
    assert [f["outcome"] for f in page["items"]] == ["started", "missed"]
    assert client.get(f"/api/v1/schedules/{schedule['id']}/firings?outcome=missed").json()["total"] == 1
    assert client.get(f"/api/v1/schedules/{schedule['id']}").json()["last_firing"]["outcome"] == "started"
