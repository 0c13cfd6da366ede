"""Every role sees only its own patients; outside the scope is 404, never 403."""

import pytest

from tests.factories import (
    create_institution,
    create_municipality,
    create_patient,
    create_prefecture,
    create_region,
    designate,
)


@pytest.fixture
def world(session):
    pref_a = create_prefecture(session)
    pref_b = create_prefecture(session)
    city = create_municipality(session, pref_a)
    town = create_municipality(session, pref_a)
    far = create_municipality(session, pref_b)
    region = create_region(session, pref_a, [city])
    hub = create_institution(session, city, kind="medical_association")
    designate(session, hub, region, "hub", covers=[city])
    clinic = create_institution(session, city)
    station = create_institution(session, town, kind="visiting_nurse_station")
    p_city = create_patient(session, city, active_institution_id=clinic.id)
    p_town = create_patient(session, town, visiting_nurse_station_id=station.id)
    p_far = create_patient(session, far)
    return locals()


def visible(client) -> set[int]:
    body = client.get("/api/v1/patients?limit=500").json()
    return {p["id"] for p in body["items"]}


def test_each_role_sees_only_its_scope(client, client_as, world):
    w = world
    assert {w["p_city"].id, w["p_town"].id, w["p_far"].id} <= visible(client)
    assert visible(client_as("prefecture", w["pref_a"].id)) >= {w["p_city"].id, w["p_town"].id}
    assert w["p_far"].id not in visible(client_as("prefecture", w["pref_a"].id))
    assert visible(client_as("hub", w["hub"].id)) == {w["p_city"].id}
    assert visible(client_as("institution", w["clinic"].id)) == {w["p_city"].id}
    assert visible(client_as("nurse", w["station"].id)) == {w["p_town"].id}


def test_outside_scope_is_404_not_403(client_as, world):
    w = world
    hub_client = client_as("hub", w["hub"].id)
    assert hub_client.get(f"/api/v1/patients/{w['p_city'].id}").status_code == 200
    assert hub_client.get(f"/api/v1/patients/{w['p_far'].id}").status_code == 404
    assert hub_client.get("/api/v1/patients/987654321").status_code == 404
    assert hub_client.patch(f"/api/v1/patients/{w['p_far'].id}", json={"name": "x"}).status_code == 404


def test_aggregate_and_system_never_see_identities(client_as, world):
    for role in ("aggregate", "system"):
        c = client_as(role)
        assert c.get("/api/v1/patients").status_code == 403
        assert c.get(f"/api/v1/patients/{world['p_city'].id}").status_code == 403


def test_aggregate_counts_suppress_small_cells(client_as, world):
    stats = client_as("aggregate").get(f"/api/v1/stats/patients?prefecture_id={world['pref_a'].id}").json()
    city = next(a for a in stats["areas"] if a["municipality_id"] == world["city"].id)
    assert city["suppressed"] is True and city["total"] is None
    full = (
        client_as("prefecture", world["pref_a"].id)
        .get(f"/api/v1/stats/patients?prefecture_id={world['pref_a'].id}")
        .json()
    )
    assert next(a for a in full["areas"] if a["municipality_id"] == world["city"].id)["total"] == 1


def test_writes_cannot_leave_the_scope(client_as, world):
    w = world
    hub_client = client_as("hub", w["hub"].id)
    body = {"name": "範囲外 太郎", "municipality_id": w["far"].id}
    response = hub_client.post("/api/v1/patients", json=body)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "municipality_id"]
    ok = hub_client.post("/api/v1/patients", json={**body, "municipality_id": w["city"].id})
    assert ok.status_code == 201
    moved = hub_client.patch(f"/api/v1/patients/{ok.json()['id']}", json={"municipality_id": w["far"].id})
    assert moved.status_code == 422
    nurse = client_as("nurse", w["station"].id)
    assert nurse.patch(f"/api/v1/patients/{w['p_town'].id}", json={"name": "x"}).status_code == 403
    clinic = client_as("institution", w["clinic"].id)
    assert clinic.patch(f"/api/v1/institutions/{w['clinic'].id}", json={"open_24h": True}).status_code == 200
    assert clinic.patch(f"/api/v1/institutions/{w['hub'].id}", json={"open_24h": True}).status_code == 404
    pref = client_as("prefecture", w["pref_a"].id)
    bad = pref.post("/api/v1/regions", json={"prefecture_id": w["pref_b"].id, "name": "越境"})
    assert bad.status_code == 422
