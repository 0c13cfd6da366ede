import pytest

from bcp_service.registry.schemas import check_digit
from tests.factories import create_institution, create_municipality, create_prefecture, create_region, designate


@pytest.fixture
def prefecture(session):
    return create_prefecture(session)


def test_municipality_crud_and_code_validation(client, prefecture):
    five = f"{prefecture.code}100"  # codes begin with the prefecture's own JIS code (issue 23)
    body = {"code": five + check_digit(five), "name": "千葉市", "prefecture_id": prefecture.id}
    created = client.post("/api/v1/municipalities", json=body)
    assert created.status_code == 201, created.text
    assert client.post("/api/v1/municipalities", json=body).status_code == 409
    wrong_digit = str((int(check_digit(five)) + 1) % 10)
    bad = client.post("/api/v1/municipalities", json={**body, "code": five + wrong_digit})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "code"
    bad = client.post("/api/v1/municipalities", json={**body, "code": five})
    assert bad.status_code == 422
    updated = client.patch(f"/api/v1/municipalities/{created.json()['id']}", json={"name": "千葉市（改）"})
    assert updated.json()["name"] == "千葉市（改）"
    listing = client.get(f"/api/v1/municipalities?prefecture_id={prefecture.id}").json()
    assert listing["total"] == 1


def test_region_crud(client, session, prefecture):
    a = create_municipality(session, prefecture)
    b = create_municipality(session, prefecture)
    created = client.post(
        "/api/v1/regions", json={"prefecture_id": prefecture.id, "name": "北圏域", "municipality_ids": [a.id, b.id]}
    )
    assert created.status_code == 201, created.text
    region_id = created.json()["id"]
    assert created.json()["municipality_ids"] == sorted([a.id, b.id])
    assert client.post("/api/v1/regions", json={"prefecture_id": prefecture.id, "name": "北圏域"}).status_code == 409
    bad = client.post(
        "/api/v1/regions", json={"prefecture_id": prefecture.id, "name": "南", "municipality_ids": [999999]}
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "municipality_ids"]
    updated = client.patch(f"/api/v1/regions/{region_id}", json={"municipality_ids": [a.id]})
    assert updated.json()["municipality_ids"] == [a.id]
    assert client.get(f"/api/v1/regions?municipality_id={a.id}").json()["total"] == 1
    assert client.get(f"/api/v1/regions?municipality_id={b.id}").json()["total"] == 0


def test_institution_with_designations_and_hub_coverage(client, session, prefecture):
    city = create_municipality(session, prefecture)
    town = create_municipality(session, prefecture)
    region = create_region(session, prefecture, [city, town])
    body = {
        "name": "架空医師会",
        "kind": "medical_association",
        "municipality_id": city.id,
        "phone": "043-123-4567",
        "staff_contacts": [{"name": "事務局", "role": "連絡担当", "phone": "090-1111-2222"}],
        "designations": [{"region_id": region.id, "kind": "hub"}],
        "hub_municipality_ids": [city.id, town.id],
    }
    created = client.post("/api/v1/institutions", json=body)
    assert created.status_code == 201, created.text
    data = created.json()
    assert data["phone"] == "+81431234567"
    assert data["kind_ja"] == "地区医師会"
    assert data["designations"] == [{"region_id": region.id, "kind": "hub"}]
    assert data["hub_municipality_ids"] == sorted([city.id, town.id])
    listing = client.get(f"/api/v1/institutions?designation=hub&region_id={region.id}").json()
    assert [i["id"] for i in listing["items"]] == [data["id"]]
    patch = client.put(
        f"/api/v1/institutions/{data['id']}/hub-municipalities", json={"hub_municipality_ids": [town.id]}
    )
    assert (
        client.patch(f"/api/v1/institutions/{data['id']}", json={"hub_municipality_ids": [town.id]}).status_code == 403
    )
    patch = client.patch(f"/api/v1/institutions/{data['id']}", json={"enhanced": True})
    assert patch.json()["hub_municipality_ids"] == [town.id] and patch.json()["enhanced"] is True
    bad = client.post("/api/v1/institutions", json={**body, "kind": "spaceport"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "kind"
    bad = client.post("/api/v1/institutions", json={**body, "designations": [{"region_id": 999999, "kind": "hub"}]})
    assert bad.status_code == 422 and "designations.0.region_id" in bad.json()["detail"][0]["loc"]


def test_coverage_gaps(client, session, prefecture):
    covered_town = create_municipality(session, prefecture)
    lonely_town = create_municipality(session, prefecture)
    full = create_region(session, prefecture, [covered_town], name="充足圏域")
    gap = create_region(session, prefecture, [lonely_town], name="空白圏域")
    designate(session, create_institution(session, covered_town), full, "active_institution")
    designate(
        session, create_institution(session, covered_town, kind="municipal_office"), full, "hub", covers=[covered_town]
    )
    designate(session, create_institution(session, lonely_town), gap, "active_institution")
    report = client.get(f"/api/v1/coverage-gaps?prefecture_id={prefecture.id}").json()
    assert [r["region_name"] for r in report["gaps"]] == ["空白圏域"]
    assert report["gaps"][0]["missing"] == ["hub"]
    assert len(report["regions"]) == 2


def test_healthz_and_openapi(client):
    assert client.get("/healthz").json()["status"] == "ok"
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/v1/patients",
        "/api/v1/institutions",
        "/api/v1/regions",
        "/api/v1/municipalities",
        "/api/v1/coverage-gaps",
    ):
        assert path in spec["paths"]


def test_healthz_fails_when_the_database_cannot_be_written(client, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from bcp_service import heartbeat

    def unwritable(*_args, **_kwargs):
        raise OperationalError("UPDATE service_heartbeat", {}, Exception("attempt to write a readonly database"))

    monkeypatch.setattr(heartbeat, "write_beat", unwritable)
    answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.json()["status"] == "unavailable"
    assert "書き込めません" in answer.json()["detail"]
    monkeypatch.undo()  # written again: this process no longer reports waiting for the database
    assert client.get("/healthz").status_code == 200


def test_institution_on_call_phone_is_japanese_e164(client, session, prefecture):
    """oncall (issue 25.4): the number paged when a critical patient becomes unreachable."""
    station = create_institution(session, create_municipality(session, prefecture), kind="visiting_nurse_station")
    saved = client.patch(f"/api/v1/institutions/{station.id}", json={"oncall_phone": "090-1111-2222"})
    assert saved.status_code == 200 and saved.json()["oncall_phone"] == "+819011112222"
    for wrong in ("+1 202 555 0143", "12", ""):
        bad = client.patch(f"/api/v1/institutions/{station.id}", json={"oncall_phone": wrong})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "oncall_phone"
    assert client.get(f"/api/v1/institutions/{station.id}").json()["oncall_phone"] == "+819011112222"
    cleared = client.patch(f"/api/v1/institutions/{station.id}", json={"oncall_phone": None})
    assert cleared.status_code == 200 and cleared.json()["oncall_phone"] is None
