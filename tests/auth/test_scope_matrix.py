"""Which scope sees which row: two accounts per scoped role with disjoint scopes, and a second prefecture.

``test_route_matrix.py`` checks which role may call which route; this file checks what each account then
sees, and that no account can change what defines its own scope (issue 12).
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from bcp_service.models import AuditEvent, Designation, HubMunicipality
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
        "pref_a": client_as("prefecture", w["pref_a"].id),
        "pref_b": client_as("prefecture", w["pref_b"].id),
        "hub1": client_as("hub", w["hub1"].id),
        "hub2": client_as("hub", w["hub2"].id),
        "hub_b": client_as("hub", w["hub_b"].id),
        "clinic1": client_as("institution", w["clinic1"].id),
        "clinic2": client_as("institution", w["clinic2"].id),
        "nurse1": client_as("nurse", w["station1"].id),
        "nurse2": client_as("nurse", w["station2"].id),
    }


def patient_ids(client) -> set[int]:
    return {p["id"] for p in client.get("/api/v1/patients?limit=500").json()["items"]}


def test_each_account_sees_only_its_own_rows(world, accounts):
    w, a = world, accounts
    expected = {
        "pref_a": {w["p1"].id, w["p2"].id},
        "pref_b": {w["pb"].id},
        "hub1": {w["p1"].id},
        "hub2": {w["p2"].id},
        "hub_b": {w["pb"].id},
        "clinic1": {w["p1"].id},
        "clinic2": {w["p2"].id},
        "nurse1": {w["p1"].id},
        "nurse2": {w["p2"].id},
    }
    for name, ids in expected.items():
        mine = {w["p1"].id, w["p2"].id, w["pb"].id} & patient_ids(a[name])
        assert mine == ids, name


def scope_rows(session, institution_id):
    return (
        sorted(
            (d.region_id, d.kind)
            for d in session.exec(select(Designation).where(Designation.institution_id == institution_id))
        ),
        sorted(
            h.municipality_id
            for h in session.exec(select(HubMunicipality).where(HubMunicipality.institution_id == institution_id))
        ),
    )


def test_a_hub_cannot_widen_its_own_scope(session, world, accounts):
    w, a = world, accounts
    before = scope_rows(session, w["hub1"].id)
    every_municipality = [w["a1"].id, w["a2"].id, w["b1"].id]
    widen = a["hub1"].patch(f"/api/v1/institutions/{w['hub1'].id}", json={"hub_municipality_ids": every_municipality})
    assert widen.status_code == 403
    designate_all = a["hub1"].patch(
        f"/api/v1/institutions/{w['hub1'].id}",
        json={
            "designations": [
                {"region_id": w["region_a2"].id, "kind": "hub"},
                {"region_id": w["region_b"].id, "kind": "hub"},
            ]
        },
    )
    assert designate_all.status_code == 403
    assert (
        a["hub1"]
        .put(
            f"/api/v1/institutions/{w['hub1'].id}/hub-municipalities", json={"hub_municipality_ids": every_municipality}
        )
        .status_code
        == 403
    )
    assert (
        a["hub1"]
        .put(
            f"/api/v1/institutions/{w['hub1'].id}/designations",
            json={"designations": [{"region_id": w["region_b"].id, "kind": "hub"}]},
        )
        .status_code
        == 403
    )
    assert (
        a["clinic1"]
        .patch(
            f"/api/v1/institutions/{w['clinic1'].id}",
            json={"designations": [{"region_id": w["region_a1"].id, "kind": "hub"}]},
        )
        .status_code
        == 403
    )
    new_hub = a["hub1"].post(
        "/api/v1/institutions",
        json={
            "name": "新拠点",
            "kind": "medical_association",
            "municipality_id": w["a1"].id,
            "hub_municipality_ids": every_municipality,
        },
    )
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
    other_region = a["pref_a"].put(
        f"{url}/designations", json={"designations": [{"region_id": w["region_b"].id, "kind": "hub"}]}
    )
    assert other_region.status_code == 403
    assert a["pref_b"].put(f"{url}/designations", json={"designations": []}).status_code == 404
    ok = a["pref_a"].put(
        f"{url}/designations", json={"designations": [{"region_id": w["region_a2"].id, "kind": "hub"}]}
    )
    assert ok.status_code == 200 and ok.json()["designations"] == [{"region_id": w["region_a2"].id, "kind": "hub"}]
    events = session.exec(
        select(AuditEvent).where(AuditEvent.action.in_(["institution.designations", "institution.hub_municipalities"]))
    ).all()
    details = [e.detail for e in events]
    assert any(
        f'"before":[[{w["region_a1"].id},"hub"]]' in d and f'"after":[[{w["region_a2"].id},"hub"]]' in d
        for d in details
    )
    assert any(f'"before":[{w["a1"].id}]' in d for d in details)


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


def start_round(client, *municipalities, **extra) -> dict:
    body = {
        "reason": "disaster",
        "drill": True,
        "target": {"municipality_ids": [m.id for m in municipalities]},
        **extra,
    }
    response = client.post("/api/v1/rounds", json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_rounds_are_listed_and_read_within_scope(world, accounts, client):
    w, a = world, accounts
    round_a = start_round(client, w["a1"], w["a2"], title="A県 全域")
    round_b = start_round(client, w["b1"], title="B県")
    expected = {
        "pref_a": {round_a["id"]},
        "pref_b": {round_b["id"]},
        "hub1": {round_a["id"]},
        "hub_b": {round_b["id"]},
        "clinic1": {round_a["id"]},
        "nurse2": {round_a["id"]},
    }
    for name, ids in expected.items():
        listed = {r["id"] for r in a[name].get("/api/v1/rounds?limit=500").json()["items"]} & {
            round_a["id"],
            round_b["id"],
        }
        assert listed == ids, name
        other = (round_b if round_a["id"] in ids else round_a)["id"]
        for suffix in ("", "/summary", "/checks"):
            assert a[name].get(f"/api/v1/rounds/{other}{suffix}").status_code == 404, (name, suffix)
    # Counts of a round are counted over the reader's own patients, not the whole round.
    assert a["hub1"].get(f"/api/v1/rounds/{round_a['id']}/summary").json()["total"] == 1
    assert a["pref_a"].get(f"/api/v1/rounds/{round_a['id']}/summary").json()["total"] == 2
    municipalities = a["hub2"].get(f"/api/v1/rounds/{round_a['id']}/summary").json()["by_municipality"]
    assert [m["key"] for m in municipalities] == [str(w["a2"].id)]


def test_idempotency_keys_are_per_account(world, accounts):
    w, a = world, accounts
    first = start_round(a["hub1"], w["a1"], idempotency_key="same-key")
    again = start_round(a["hub1"], w["a1"], idempotency_key="same-key")
    other = start_round(a["hub2"], w["a2"], idempotency_key="same-key")
    assert again["id"] == first["id"]
    assert other["id"] != first["id"] and other["target"]["municipality_ids"] == [w["a2"].id]


def test_a_nurse_client_id_is_per_station(world, accounts, client):
    w, a = world, accounts
    start_round(client, w["a1"], w["a2"])
    ids = {}
    for name in ("nurse1", "nurse2"):
        rows = a[name].get("/api/v1/rounds?limit=1").json()["items"]
        round_id = rows[0]["id"]
        ids[name] = a[name].get(f"/api/v1/rounds/{round_id}/checks").json()["items"][0]["id"]
    body = {"client_id": "shared-client-id-0001", "state": "safe", "method": "phone"}
    first = a["nurse1"].post("/api/v1/nurse/results", json={**body, "check_id": ids["nurse1"]})
    second = a["nurse2"].post("/api/v1/nurse/results", json={**body, "check_id": ids["nurse2"]})
    assert first.status_code == 200 and second.status_code == 200, (first.text, second.text)
    assert second.json()["created"] is True and second.json()["check_id"] == ids["nurse2"]


def test_the_aggregate_role_sees_no_small_cell_and_no_ids(world, client, client_as, session):
    w = world
    for _ in range(12):
        create_patient(session, w["a1"])
    session.flush()
    created = start_round(client, w["a1"], w["a2"])  # 13 patients in a1, 1 in a2
    aggregate = client_as("aggregate")
    listed = [r for r in aggregate.get("/api/v1/rounds").json()["items"] if r["id"] == created["id"]]
    assert listed[0]["target"] == {} and listed[0]["started_by_name"] == ""
    assert listed[0]["target_count"] == 14 and listed[0]["no_contact_count"] is None
    summary = aggregate.get(f"/api/v1/rounds/{created['id']}/summary").json()
    by_municipality = {m["key"]: m for m in summary["by_municipality"]}
    assert by_municipality[str(w["a2"].id)]["suppressed"] is True and by_municipality[str(w["a2"].id)]["total"] is None
    # The whole round is 14 and a1 is 13: a1's total must be hidden too, or 14 - 13 gives a2's.
    assert summary["total"] is None or by_municipality[str(w["a1"].id)]["total"] is None
    assert summary["messages"] == {}
    for row in summary["by_municipality"] + summary["by_region"] + summary["by_risk_tier"]:
        assert all(n is None or n == 0 or n >= 10 for n in row["counts"].values())
        assert row["total"] is None or row["total"] == 0 or row["total"] >= 10
    assert all(n is None or n >= 10 for n in summary["by_state"].values())


def test_a_draft_shows_a_reader_only_the_patients_it_may_see(world, accounts, client, session):
    w, a = world, accounts
    outside = create_patient(session, w["a2"], name="圏外 次郎", active_institution_id=w["clinic1"].id)
    session.flush()
    draft = client.post(f"/api/v1/institutions/{w['clinic1'].id}/bcp-drafts").json()
    assert draft["patients_left_out"] == 0
    assert a["hub2"].get(f"/api/v1/bcp-drafts/{draft['id']}").status_code == 404  # clinic1 is not in hub2's area
    as_hub = a["hub1"].get(f"/api/v1/bcp-drafts/{draft['id']}").json()
    assert as_hub["patients_left_out"] == 1 and as_hub["patient_count"] == 1
    assert "圏外" not in str(as_hub["blanks"])
    page = a["hub1"].get(f"/bcp/drafts/{draft['id']}")
    assert page.status_code == 200 and "圏外" not in page.text and "1 名" in page.text
    assert w["p1"].name in page.text
    docx = a["hub1"].get(f"/api/v1/bcp-drafts/{draft['id']}.docx").content
    import io
    import zipfile

    assert "圏外" not in zipfile.ZipFile(io.BytesIO(docx)).read("word/document.xml").decode()
    events = client.get(f"/api/v1/audit?patient_id={outside.id}&action=bcp_draft.read").json()
    assert events["total"] == 0  # the hub's reads did not show it, so they do not name it
    assert a["pref_a"].get(f"/api/v1/bcp-drafts/{draft['id']}").json()["patients_left_out"] == 0
