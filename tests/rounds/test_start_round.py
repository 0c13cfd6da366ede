from sqlmodel import select

from bcp_service.answer_tokens import hash_token
from bcp_service.models import OutboxMessage, SafetyCheck, SafetyRound
from bcp_service.rounds.counters import read_counters, recount
from tests.factories import create_user
from tests.rounds.conftest import add_patient, round_body


def test_start_round_creates_checks_messages_and_counters(client, session, area):
    critical = add_patient(session, area.city, uses_ventilator=True, ventilator_mode="invasive")
    standard = add_patient(
        session, area.city, uses_oxygen=True, oxygen_source="liquid", cylinder_hours=12, max_hours_without_device=8
    )
    add_patient(session, area.town)  # outside the target
    add_patient(session, area.city, status="moved")  # not active
    response = client.post("/api/v1/rounds", json=round_body(municipality_ids=[area.city.id]) | {"drill": True})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["drill"] is True and created["label"] == "【訓練】"
    assert created["target_count"] == 2 and created["message_count"] == 2 and created["state"] == "running"

    checks = session.exec(select(SafetyCheck).where(SafetyCheck.round_id == created["id"])).all()
    assert {c.patient_id for c in checks} == {critical.id, standard.id}
    assert all(c.state == "no_answer" and c.region_id == area.region.id for c in checks)
    messages = session.exec(select(OutboxMessage).where(OutboxMessage.round_id == created["id"])).all()
    by_check = {m.check_id: m for m in messages}
    assert len(messages) == 2
    for check in checks:
        message = by_check[check.id]
        assert message.state == "queued" and message.drill is True
        assert len(message.answer_token) in (22, 23) and message.answer_token_hash == hash_token(message.answer_token)
    assert {m.priority for m in messages} == {0, 2}
    assert read_counters(session=session, round_id=created["id"]) == recount(session=session, round_id=created["id"])
    assert read_counters(session=session, round_id=created["id"])["all"][""] == {"no_answer": 2}


def test_idempotency_key_starts_one_round(client, session, area):
    add_patient(session, area.city)
    body = round_body(municipality_ids=[area.city.id]) | {"idempotency_key": "quake-2026-11-22-0412"}
    first = client.post("/api/v1/rounds", json=body)
    second = client.post("/api/v1/rounds", json=body)
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    by_header = client.post(
        "/api/v1/rounds", json=round_body(municipality_ids=[area.city.id]), headers={"Idempotency-Key": "header-key"}
    )
    again = client.post(
        "/api/v1/rounds", json=round_body(municipality_ids=[area.city.id]), headers={"Idempotency-Key": "header-key"}
    )
    assert by_header.json()["id"] == again.json()["id"] != first.json()["id"]
    assert len(session.exec(select(SafetyRound)).all()) == 2


def test_patient_without_usable_contact_is_flagged_at_once(client, session, area):
    add_patient(session, area.city, phones=[])
    response = client.post("/api/v1/rounds", json=round_body(municipality_ids=[area.city.id]))
    created = response.json()
    assert created["no_contact_count"] == 1 and created["message_count"] == 0
    summary = client.get(f"/api/v1/rounds/{created['id']}/summary").json()
    assert summary["by_state"] == {"delivery_failed": 1}


def test_target_mixes_areas_with_or_and_narrows_by_therapy_and_tier(client, session, area):
    in_region = add_patient(session, area.city, uses_ventilator=True, ventilator_mode="invasive")
    in_town = add_patient(session, area.town, uses_ventilator=True, ventilator_mode="invasive")
    oxygen_only = add_patient(session, area.city)
    body = round_body(
        region_ids=[area.region.id],
        municipality_codes=[area.town.code],
        therapies=["ventilator"],
        risk_tiers=["critical"],
    )
    created = client.post("/api/v1/rounds", json=body).json()
    patient_ids = set(session.exec(select(SafetyCheck.patient_id).where(SafetyCheck.round_id == created["id"])).all())
    assert patient_ids == {in_region.id, in_town.id}
    assert oxygen_only.id not in patient_ids
    assert created["target"]["municipality_ids"] == [area.town.id]


def test_bad_targets_are_refused(client, area):
    assert client.post("/api/v1/rounds", json=round_body()).status_code == 422
    unknown = client.post("/api/v1/rounds", json=round_body(municipality_codes=["999999"]))
    assert unknown.status_code == 422 and "999999" in unknown.text
    past = client.post(
        "/api/v1/rounds", json=round_body(municipality_ids=[area.city.id]) | {"deadline": "2020-01-01T00:00:00+09:00"}
    )
    assert past.status_code == 409


def test_hub_round_is_limited_to_its_scope(client_as, session, area):
    mine = add_patient(session, area.city)
    add_patient(session, area.town)
    hub = client_as("hub", area.hub.id)
    created = hub.post("/api/v1/rounds", json=round_body(prefecture_id=area.prefecture.id))
    assert created.status_code == 201, created.text
    patient_ids = session.exec(select(SafetyCheck.patient_id).where(SafetyCheck.round_id == created.json()["id"])).all()
    assert patient_ids == [mine.id]
    assert (
        client_as("institution", area.clinic.id)
        .post("/api/v1/rounds", json=round_body(prefecture_id=area.prefecture.id))
        .status_code
        == 403
    )


def test_close_cancels_unsent_messages_and_only_owner_or_admin_may_close(client, client_as, session, area):
    add_patient(session, area.city)
    hub = client_as("hub", area.hub.id)
    created = hub.post("/api/v1/rounds", json=round_body(municipality_ids=[area.city.id])).json()
    other_hub = client_as("hub", area.clinic.id)
    assert other_hub.post(f"/api/v1/rounds/{created['id']}/close").status_code == 404
    closed = hub.post(f"/api/v1/rounds/{created['id']}/close")
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    message = session.exec(select(OutboxMessage).where(OutboxMessage.round_id == created["id"])).one()
    assert message.state == "cancelled" and message.answer_token is None
    assert client.post(f"/api/v1/rounds/{created['id']}/close").json()["state"] == "closed"


def test_list_and_read_rounds(client, client_as, session, area):
    add_patient(session, area.city, visiting_nurse_station_id=area.station.id)
    created = client.post("/api/v1/rounds", json=round_body(municipality_ids=[area.city.id]) | {"title": "試験"}).json()
    listed = client_as("aggregate").get("/api/v1/rounds?state=running").json()
    assert created["id"] in [r["id"] for r in listed["items"]]
    assert [r["target"] for r in listed["items"] if r["id"] == created["id"]] == [{}]  # never the target's ids
    assert client_as("nurse", area.station.id).get(f"/api/v1/rounds/{created['id']}").json()["title"] == "試験"
    assert client_as("nurse", area.clinic.id).get(f"/api/v1/rounds/{created['id']}").status_code == 404
    assert client.get("/api/v1/rounds/999999").status_code == 404


def test_system_actor_can_start_a_round_without_a_request(session, settings, area):
    from bcp_service.rounds.service import Actor, start_round
    from bcp_service.rounds.targets import RoundTarget

    add_patient(session, area.city)
    safety_round, created = start_round(
        session=session,
        actor=Actor.system("scheduler"),
        target=RoundTarget(municipality_ids=[area.city.id]),
        reason="scheduled",
        drill=True,
        settings=settings,
        idempotency_key="schedule:monthly:2026-11",
    )
    assert created and safety_round.started_by_name == "system:scheduler" and safety_round.target_count == 1
    again, created_again = start_round(
        session=session,
        actor=Actor.system("scheduler"),
        target=RoundTarget(municipality_ids=[area.city.id]),
        reason="scheduled",
        drill=True,
        settings=settings,
        idempotency_key="schedule:monthly:2026-11",
    )
    assert again.id == safety_round.id and not created_again
    create_user(session, "admin")


def test_counters_moved_by_writers_on_other_shards_still_add_up(client, session, area, monkeypatch):
    from bcp_service.models import RoundCounter
    from bcp_service.rounds import counters

    add_patient(session, area.city)
    add_patient(session, area.city)
    created = client.post("/api/v1/rounds", json=round_body(municipality_ids=[area.city.id])).json()
    first, second = session.exec(select(SafetyCheck).where(SafetyCheck.round_id == created["id"])).all()
    keys = [counters.CheckKeys.of(first), counters.CheckKeys.of(second)]
    for n, (check, check_keys) in enumerate(zip((first, second), keys, strict=False), start=3):
        monkeypatch.setattr(counters, "shard", lambda n=n: n)  # two writers, two shards
        check.state = "safe"
        session.add(check)
        counters.move_counters(session=session, moves=[(check_keys, "no_answer", "safe")])
    session.flush()
    shards = set(session.exec(select(RoundCounter.shard).where(RoundCounter.round_id == created["id"])).all())
    assert shards == {0, 3, 4}  # the start's counts are shard 0; each writer decremented no_answer in its own
    assert read_counters(session=session, round_id=created["id"]) == recount(session=session, round_id=created["id"])
    assert read_counters(session=session, round_id=created["id"])["all"][""] == {"safe": 2}
