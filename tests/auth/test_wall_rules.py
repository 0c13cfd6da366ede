"""The wall's rules one by one, each with its control (the same write inside the prefecture works), so
the sweep in test_prefecture_wall.py is refused for the right reason (issue 23, issue 27 item 2)."""

from __future__ import annotations

from sqlmodel import select

from bcp_service.models import AuditEvent, Institution, TriggerRecord
from tests.factories import create_institution
from tests.world import World, municipality_code, world3  # noqa: F401 (fixture)


def account(w: World, role: str, code: str = "12", n: int = 0):
    return [a for a in w.accounts if a.role == role and a.prefecture == code][n]


def test_regions_take_only_their_prefectures_municipalities_and_are_audited(world3, session):
    w = world3
    chiba, ibaraki = w.lands["12"], w.lands["08"]
    officer = account(w, "prefecture").api
    url = f"/api/v1/regions/{chiba.regions[0].id}"
    foreign = officer.patch(url, json={"municipality_ids": [chiba.municipalities[0].id, ibaraki.municipalities[0].id]})
    missing = officer.patch(url, json={"municipality_ids": [chiba.municipalities[0].id, 99999999]})
    assert foreign.status_code == missing.status_code == 422
    # The same words for a municipality elsewhere and one that does not exist (apart from the id).
    assert foreign.json()["detail"][0]["msg"].replace(str(ibaraki.municipalities[0].id), "X") == missing.json()[
        "detail"
    ][0]["msg"].replace("99999999", "X")
    ok = officer.patch(url, json={"municipality_ids": [m.id for m in chiba.municipalities]})
    assert ok.status_code == 200 and ok.json()["municipality_ids"] == sorted(m.id for m in chiba.municipalities)
    assert w.admin.patch(url, json={"municipality_ids": [ibaraki.municipalities[0].id]}).status_code == 422
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "region.update")).all()[-1]
    assert (
        f'"before":{{"name":"{chiba.regions[0].name}","municipality_ids":[{chiba.municipalities[0].id}]}}'
        in event.detail
    )
    assert f'"municipality_ids":[{chiba.municipalities[0].id},{chiba.municipalities[1].id}]' in event.detail
    created = officer.post(
        "/api/v1/regions",
        json={"prefecture_id": chiba.prefecture.id, "name": "新圏域", "municipality_ids": [chiba.municipalities[1].id]},
    )
    assert created.status_code == 201
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "region.create")).first() is not None


def test_municipality_codes_are_per_prefecture(world3, session):
    w = world3
    chiba, tochigi = w.lands["12"], w.lands["09"]
    tochigi_officer = account(w, "prefecture", "09").api
    theirs = tochigi_officer.post(
        "/api/v1/municipalities",
        json={"code": municipality_code("12"), "name": "千葉の町", "prefecture_id": tochigi.prefecture.id},
    )
    assert theirs.status_code == 422 and "都道府県のコード" in theirs.json()["detail"][0]["msg"]
    own_code = municipality_code("12")
    ok = account(w, "prefecture").api.post(
        "/api/v1/municipalities", json={"code": own_code, "name": "新しい町", "prefecture_id": chiba.prefecture.id}
    )
    assert ok.status_code == 201, ok.text
    changed = account(w, "prefecture").api.patch(f"/api/v1/municipalities/{ok.json()['id']}", json={"name": "改名町"})
    assert changed.status_code == 200
    details = [e.detail for e in session.exec(select(AuditEvent).where(AuditEvent.action.like("municipality.%")))]
    assert any('"before":null' in d and own_code in d for d in details)
    assert any('"name":"新しい町"' in d and '"name":"改名町"' in d for d in details)


def test_a_trigger_start_is_cancelled_only_inside_its_prefecture(world3, session):
    w = world3
    chiba = w.lands["12"]
    for code in ("08", "09"):
        api = account(w, "prefecture", code).api
        assert api.post(f"/api/v1/triggers/events/{chiba.record_id}/cancel").status_code == 404
        page = account(w, "prefecture", code)
        response = page.page.post(f"/triggers/events/{chiba.record_id}/cancel", data={"csrf_token": page.csrf})
        assert response.status_code == 404
    assert session.get(TriggerRecord, chiba.record_id).state == "pending"
    ok = account(w, "prefecture").api.post(f"/api/v1/triggers/events/{chiba.record_id}/cancel")
    assert ok.status_code == 200, ok.text
    session.expire_all()
    assert session.get(TriggerRecord, chiba.record_id).state == "cancelled"


def test_nurse_assignment_stays_inside_and_tells_nothing(world3):
    w = world3
    chiba, ibaraki = w.lands["12"], w.lands["08"]
    hub = account(w, "hub").api
    url = f"/api/v1/rounds/{chiba.round_id}/checks/{chiba.own_check_id}/assign"
    elsewhere = hub.post(url, json={"user_id": ibaraki.nurse_user_id})
    nowhere = hub.post(url, json={"user_id": 99999999})
    not_a_nurse = hub.post(url, json={"user_id": account(w, "hub", "08").user_id})
    assert elsewhere.status_code == nowhere.status_code == not_a_nurse.status_code == 422
    assert elsewhere.json() == nowhere.json() == not_a_nurse.json()
    ok = hub.post(url, json={"user_id": chiba.nurse_user_id})
    assert ok.status_code == 200 and ok.json()["assigned_user_id"] == chiba.nurse_user_id


def test_an_institution_cannot_move_itself_out(world3, session):
    w = world3
    chiba, ibaraki = w.lands["12"], w.lands["08"]
    clinic = account(w, "institution")
    moved = clinic.api.patch(
        f"/api/v1/institutions/{clinic.scope_id}", json={"municipality_id": ibaraki.municipalities[0].id}
    )
    assert moved.status_code == 422
    session.expire_all()
    assert session.get(Institution, clinic.scope_id).municipality_id in {m.id for m in chiba.municipalities}
    ok = clinic.api.patch(
        f"/api/v1/institutions/{clinic.scope_id}", json={"municipality_id": chiba.municipalities[1].id}
    )
    assert ok.status_code == 200


PATIENT = {
    "name": "新規 花子",
    "sex": "female",
    "uses_oxygen": True,
    "oxygen_source": "cylinders",
    "cylinder_hours": 3,
    "contacts": [{"kind": "self", "phone": "+819055556666"}],
}


def test_a_patients_hub_and_institution_follow_the_rule_book(world3, session):
    w = world3
    chiba = w.lands["12"]
    m0, m1 = chiba.municipalities
    officer = account(w, "prefecture").api
    pharmacy = create_institution(session, m0, kind="pharmacy")
    fire = create_institution(session, m0, kind="fire_ems_agency")
    session.flush()
    cases = {
        "hub_id": [{"hub_id": chiba.hubs[1].id}, {"hub_id": pharmacy.id}, {"hub_id": chiba.clinics[0].id}],
        "active_institution_id": [{"active_institution_id": fire.id}, {"active_institution_id": pharmacy.id}],
    }
    for field, bodies in cases.items():
        for extra in bodies:
            refused = officer.post("/api/v1/patients", json={**PATIENT, "municipality_id": m0.id, **extra})
            assert refused.status_code == 422, (extra, refused.text)
            assert refused.json()["detail"][0]["loc"][-1] == field
    ok = officer.post(
        "/api/v1/patients",
        json={
            **PATIENT,
            "municipality_id": m0.id,
            "hub_id": chiba.hubs[0].id,
            "active_institution_id": chiba.clinics[1].id,
            "visiting_nurse_station_id": chiba.stations[1].id,
        },
    )
    assert ok.status_code == 201, ok.text
    # A hub pinned by hand: moving the patient to a municipality it does not cover is refused until the
    # hub changes too. Not pinned, the hub follows the municipality (issue 27.2).
    pid = ok.json()["id"]
    assert officer.patch(f"/api/v1/patients/{pid}", json={"hub_pinned": True}).status_code == 200
    moved = officer.patch(f"/api/v1/patients/{pid}", json={"municipality_id": m1.id})
    assert moved.status_code == 422 and moved.json()["detail"][0]["loc"][-1] == "hub_id"
    both = officer.patch(f"/api/v1/patients/{pid}", json={"municipality_id": m1.id, "hub_id": chiba.hubs[1].id})
    assert both.status_code == 200
    followed = officer.patch(f"/api/v1/patients/{pid}", json={"municipality_id": m0.id, "hub_pinned": False})
    assert followed.status_code == 200 and followed.json()["hub_id"] == chiba.hubs[0].id
    # A cross-border link an admin made stays when the prefecture edits another field.
    border = chiba.patients[-1]
    assert officer.patch(f"/api/v1/patients/{border.id}", json={"address": "千葉市1-1"}).status_code == 200


def test_the_patient_form_says_it_in_japanese(world3, session):
    w = world3
    chiba = w.lands["12"]
    me = account(w, "prefecture")
    response = me.page.post(
        "/registry/patients/new",
        data={
            "csrf_token": me.csrf,
            "name": "新規 花子",
            "municipality_id": chiba.municipalities[0].id,
            "hub_id": chiba.hubs[1].id,
            "contact_phone": "09055556666",
        },
    )
    assert response.status_code == 422
    assert "この市町村を担当する指定済みの連携拠点" in response.text


def test_the_import_reads_another_prefectures_rows_as_unknown(world3):
    w = world3
    chiba, ibaraki = w.lands["12"], w.lands["08"]
    officer = account(w, "prefecture").api
    rows = (
        "external_id,name,municipality_code,hub_external_id\n"
        f"IMP-1,輸入 一郎,{ibaraki.municipalities[0].code},\n"
        f"IMP-2,輸入 二郎,{chiba.municipalities[0].code},{ibaraki.hubs[0].external_id}\n"
        f"IMP-3,輸入 三郎,{chiba.municipalities[0].code},{chiba.hubs[1].external_id}\n"
    )
    report = officer.post(
        "/api/v1/imports/patients?dry_run=true", files={"file": ("p.csv", rows.encode("utf-8"), "text/csv")}
    ).json()
    messages = {(e["line"], e["column"]): e["reason"] for e in report["errors"]}
    assert "登録されていません" in messages[(2, "municipality_code")]
    assert "登録されていません" in messages[(3, "hub_external_id")]
    assert "連携拠点" in messages[(4, "hub_external_id")]


def test_round_targets_show_no_patient_ids_to_narrower_readers(world3):
    w = world3
    chiba, ibaraki = w.lands["12"], w.lands["08"]
    named = [chiba.patients[0].id, ibaraki.patients[0].id]
    started = w.admin.post(
        "/api/v1/rounds", json={"reason": "disaster", "drill": True, "target": {"patient_ids": named}}
    )
    assert started.status_code == 201 and started.json()["target"]["patient_ids"] == named  # admin: the list
    for reader in (account(w, "prefecture"), account(w, "hub"), account(w, "institution")):
        for shown in (
            reader.api.get(f"/api/v1/rounds/{started.json()['id']}").json(),
            *[r for r in reader.api.get("/api/v1/rounds?limit=500").json()["items"] if r["id"] == started.json()["id"]],
        ):
            assert "patient_ids" not in shown["target"] and shown["target"]["patient_ids_count"] == 2, reader.role
