"""Which scope sees which row: two accounts per scoped role with disjoint scopes, and a second prefecture.

``test_route_matrix.py`` checks which role may call which route; this file checks what each account then
sees, and that no account can change what defines its own scope (issue 12).
"""

from __future__ import annotations

import pytest

from bcp_service.models import AuditEvent, Designation, HubMunicipality
from sqlmodel import select
from tests.factories import create_institution, create_municipality, create_patient, create_prefecture, create_region, designate


@pytest.fixture
def world(session):
    """Prefecture A with two hubs (disjoint), two clinics, two stations; prefecture B with its own hub."""
    pref_a, pref_b = create_prefecture(session), create_prefecture(session)
    a1, a2 = create_municipality(session, pref_a), create_municipality(session, pref_a)
    b1 = create_municipality(session, pref_b)
    region_a1, region_a2 = create_region(session, pref_a, [a1]), create_region(session, pref_a, [a2])
    region_b = create_region(session, pref_b, [b1])
    hub1 = create_institution(session, a1, kind="medical_association")
    hub2 = create_institution(session, a2, kind="medical_association")
    hub_b = create_institution(session, b1, kind="medical_association")
    designate(session, hub1, region_a1, "hub", covers=[a1])
    designate(session, hub2, region_a2, "hub", covers=[a2])
    designate(session, hub_b, region_b, "hub", covers=[b1])
    clinic1, clinic2 = create_institution(session, a1), create_institution(session, a2)
    station1 = create_institution(session, a1, kind="visiting_nurse_station")
    station2 = create_institution(session, a2, kind="visiting_nurse_station")
    p1 = create_patient(session, a1, active_institution_id=clinic1.id, visiting_nurse_station_id=station1.id)
    p2 = create_patient(session, a2, active_institution_id=clinic2.id, visiting_nurse_station_id=station2.id)
    pb = create_patient(session, b1)
    session.flush()
    return locals()


@pytest.fixture
def accounts(world, client_as):
    w = world
    return {
        "pref_a": client_as("prefecture", w["pref_a"].id), "pref_b": client_as("prefecture", w["pref_b"].id),
        "hub1": client_as("hub", w["hub1"].id), "hub2": client_as("hub", w["hub2"].id),
        "hub_b": client_as("hub", w["hub_b"].id),
        "clinic1": client_as("institution", w["clinic1"].id), "clinic2": client_as("institution", w["clinic2"].id),
        "nurse1": client_as("nurse", w["station1"].id), "nurse2": client_as("nurse", w["station2"].id),
    }


def patient_ids(client) -> set[int]:
    return {p["id"] for p in client.get("/api/v1/patients?limit=500").json()["items"]}


def test_each_account_sees_only_its_own_rows(world, accounts):
    w, a = world, accounts
    expected = {
        "pref_a": {w["p1"].id, w["p2"].id}, "pref_b": {w["pb"].id},
        "hub1": {w["p1"].id}, "hub2": {w["p2"].id}, "hub_b": {w["pb"].id},
        "clinic1": {w["p1"].id}, "clinic2": {w["p2"].id}, "nurse1": {w["p1"].id}, "nurse2": {w["p2"].id},
    }
    for name, ids in expected.items():
        mine = {w["p1"].id, w["p2"].id, w["pb"].id} & patient_ids(a[name])
        assert mine == ids, name


def scope_rows(session, institution_id):
    return (
        sorted((d.region_id, d.kind) for d in session.exec(select(Designation).where(Designation.institution_id == institution_id))),
        sorted(h.municipality_id for h in session.exec(select(HubMunicipality).where(HubMunicipality.institution_id == institution_id))),
    )


def test_a_hub_cannot_widen_its_own_scope(session, world, accounts):
    w, a = world, accounts
    before = scope_rows(session, w["hub1"].id)
    every_municipality = [w["a1"].id, w["a2"].id, w["b1"].id]
    widen = a["hub1"].patch(f"/api/v1/institutions/{w['hub1'].id}", json={"hub_municipality_ids": every_municipality})
    assert widen.status_code == 403
    designate_all = a["hub1"].patch(
        f"/api/v1/institutions/{w['hub1'].id}",
        json={"designations": [{"region_id": w["region_a2"].id, "kind": "hub"}, {"region_id": w["region_b"].id, "kind": "hub"}]},
    )
    assert designate_all.status_code == 403
    assert a["hub1"].put(f"/api/v1/institutions/{w['hub1'].id}/hub-municipalities",
                         json={"hub_municipality_ids": every_municipality}).status_code == 403
    assert a["hub1"].put(f"/api/v1/institutions/{w['hub1'].id}/designations",
                         json={"designations": [{"region_id": w["region_b"].id, "kind": "hub"}]}).status_code == 403
    assert a["clinic1"].patch(f"/api/v1/institutions/{w['clinic1'].id}",
                              json={"designations": [{"region_id": w["region_a1"].id, "kind": "hub"}]}).status_code == 403
    new_hub = a["hub1"].post("/api/v1/institutions", json={
        "name": "新拠点", "kind": "medical_association", "municipality_id": w["a1"].id,
        "hub_municipality_ids": every_municipality,
    })
    assert new_hub.status_code == 403
    session.expire_all()
    assert scope_rows(session, w["hub1"].id) == before
    assert patient_ids(a["hub1"]) & {w["p2"].id, w["pb"].id} == set()


def test_the_prefecture_sets_designations_inside_its_prefecture_only(session, world, accounts):
    w, a = world, accounts
    url = f"/api/v1/institutions/{w['hub1'].id}"
    ok = a["pref_a"].put(f"{url}/hub-municipalities", json={"hub_municipality_ids": [w["a1"].id, w["a2"].id]})
    assert ok.status_code == 200 and ok.json()["hub_municipality_ids"] == sorted([w["a1"].id, w["a2"].id])
    outside = a["pref_a"].put(f"{url}/hub-municipalities", json={"hub_municipality_ids": [w["b1"].id]})
    assert outside.status_code == 403
    other_region = a["pref_a"].put(f"{url}/designations", json={"designations": [{"region_id": w["region_b"].id, "kind": "hub"}]})
    assert other_region.status_code == 403
    assert a["pref_b"].put(f"{url}/designations", json={"designations": []}).status_code == 404
    ok = a["pref_a"].put(f"{url}/designations", json={"designations": [{"region_id": w["region_a2"].id, "kind": "hub"}]})
    assert ok.status_code == 200 and ok.json()["designations"] == [{"region_id": w["region_a2"].id, "kind": "hub"}]
    events = session.exec(select(AuditEvent).where(AuditEvent.action.in_(["institution.designations", "institution.hub_municipalities"]))).all()
    details = [e.detail for e in events]
    assert any('"before":[[%d,"hub"]]' % w["region_a1"].id in d and '"after":[[%d,"hub"]]' % w["region_a2"].id in d for d in details)
    assert any('"before":[%d]' % w["a1"].id in d for d in details)


def test_the_audit_log_and_its_csv_are_scoped(world, accounts, client):
    w, a = world, accounts
    assert a["hub_b"].get(f"/api/v1/patients/{w['pb'].id}").status_code == 200  # read in prefecture B
    assert a["hub1"].get(f"/api/v1/patients/{w['p1'].id}").status_code == 200  # read in prefecture A
    for name, own, other in (("pref_a", w["p1"].id, w["pb"].id), ("pref_b", w["pb"].id, w["p1"].id)):
        events = a[name].get("/api/v1/audit?limit=1000").json()["items"]
        shown = {i for e in events for i in e["patient_ids"]}
        assert own in shown and other not in shown, name
        assert a[name].get(f"/api/v1/audit?patient_id={other}").json()["total"] == 0
        assert a[name].get(f"/api/v1/audit?patient_id={own}").json()["total"] >= 1
        csv = a[name].get("/api/v1/audit/export.csv").content.decode("utf-8-sig")
        rows = [line.split(",") for line in csv.splitlines()[1:]]
        assert not any(str(other) in row[7].split() for row in rows if len(row) > 7), name
    everything = client.get("/api/v1/audit?limit=1000").json()["items"]
    assert {w["p1"].id, w["pb"].id} <= {i for e in everything for i in e["patient_ids"]}
