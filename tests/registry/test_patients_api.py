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
def area(session):
    prefecture = create_prefecture(session)
    city = create_municipality(session, prefecture)
    town = create_municipality(session, prefecture)
    region = create_region(session, prefecture, [city])
    clinic = create_institution(session, city)
    hub = create_institution(session, city, kind="medical_association")
    designate(session, clinic, region, "active_institution")
    designate(session, hub, region, "hub", covers=[city])
    station = create_institution(session, city, kind="visiting_nurse_station")
    backup = create_institution(session, city, kind="backup_hospital")
    return {
        "prefecture": prefecture,
        "city": city,
        "town": town,
        "region": region,
        "clinic": clinic,
        "hub": hub,
        "station": station,
        "backup": backup,
    }


def patient_body(area, **overrides):
    body = {
        "name": "架空 太郎",
        "name_kana": "カクウ タロウ",
        "birth_date": "1950-04-01",
        "sex": "male",
        "municipality_id": area["city"].id,
        "uses_ventilator": True,
        "ventilator_mode": "invasive",
        "internal_battery_hours": 3,
        "external_battery_hours": 6,
        "active_institution_id": area["clinic"].id,
        "visiting_nurse_station_id": area["station"].id,
        "hub_id": area["hub"].id,
        "backup_hospital_id": area["backup"].id,
        "contacts": [
            {"kind": "self", "phone": "090-1234-5678"},
            {
                "kind": "family",
                "name": "架空 花子",
                "relation": "配偶者",
                "phone": "03-1234-5678",
                "preferred_channel": "voice",
            },
        ],
    }
    body.update(overrides)
    return body


def test_create_read_update_patient(client, area):
    response = client.post("/api/v1/patients", json=patient_body(area))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["risk_tier"] == "critical"
    assert [c["phone"] for c in created["contacts"]] == ["+819012345678", "+81312345678"]
    assert created["contacts"][1]["position"] == 2

    fetched = client.get(f"/api/v1/patients/{created['id']}").json()
    assert fetched["name"] == "架空 太郎"

    updated = client.patch(
        f"/api/v1/patients/{created['id']}",
        json={
            "uses_ventilator": False,
            "ventilator_mode": None,
            "uses_oxygen": True,
            "oxygen_source": "liquid",
            "cylinder_hours": 12,
            "max_hours_without_device": 6,
            "status": "admitted",
        },
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["risk_tier"] == "standard"
    assert updated.json()["status"] == "admitted"
    assert len(updated.json()["contacts"]) == 2


def test_no_hard_delete(client, area):
    created = client.post("/api/v1/patients", json=patient_body(area)).json()
    assert client.delete(f"/api/v1/patients/{created['id']}").status_code == 405


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"contacts": [{"phone": "12345"}]}, "phone"),
        ({"contacts": [{"phone": "not a phone"}]}, "phone"),
        ({"birth_date": "1950-13-40"}, "birth_date"),
        ({"birth_date": "2999-01-01"}, "birth_date"),
        ({"sex": "robot"}, "sex"),
        ({"ventilator_mode": "sometimes"}, "ventilator_mode"),
        ({"status": "deleted"}, "status"),
        ({"internal_battery_hours": -1}, "internal_battery_hours"),
        ({"municipality_id": 999999}, "municipality_id"),
        ({"active_institution_id": 999999}, "active_institution_id"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"latitude": 123}, "latitude"),
    ],
)
def test_bad_input_answers_4xx_naming_the_field(client, area, overrides, field):
    response = client.post("/api/v1/patients", json=patient_body(area, **overrides))
    assert 400 <= response.status_code < 500, response.text
    detail = response.json()["detail"]
    assert any(field in [str(part) for part in item["loc"]] or field in item["msg"] for item in detail), detail


def test_wrong_kind_of_reference(client, area):
    response = client.post("/api/v1/patients", json=patient_body(area, visiting_nurse_station_id=area["clinic"].id))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "visiting_nurse_station_id"]


def test_duplicate_external_id_is_a_conflict(client, area):
    assert client.post("/api/v1/patients", json=patient_body(area, external_id="X-1")).status_code == 201
    response = client.post("/api/v1/patients", json=patient_body(area, external_id="X-1"))
    assert response.status_code == 409
    assert response.json()["detail"][0]["loc"] == ["body", "external_id"]


def test_malformed_json_and_bad_ids(client, area):
    response = client.post("/api/v1/patients", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert client.get("/api/v1/patients/abc").status_code == 422
    assert client.get("/api/v1/patients/987654").status_code == 404
    assert client.get("/api/v1/patients?limit=100000").status_code == 422
    assert client.get("/api/v1/patients?therapy=magic").status_code == 422


def test_list_filters_and_pagination(client, session, area):
    vent = create_patient(
        session,
        area["city"],
        uses_oxygen=False,
        oxygen_source=None,
        uses_ventilator=True,
        ventilator_mode="invasive",
        name="呼吸 一郎",
        name_kana="コキュウ イチロウ",
        hub_id=area["hub"].id,
        external_id="K-0042",
    )
    oxy = [
        create_patient(session, area["town"], name=f"酸素 {i}", active_institution_id=area["clinic"].id)
        for i in range(5)
    ]

    def ids(query: str) -> list[int]:
        body = client.get(f"/api/v1/patients?{query}").json()
        return [p["id"] for p in body["items"]]

    assert ids("therapy=ventilator") == [vent.id]
    assert ids(f"region_id={area['region'].id}") == [vent.id]
    assert ids(f"municipality_id={area['town'].id}") == [p.id for p in oxy]
    assert ids(f"hub_id={area['hub'].id}") == [vent.id]
    assert ids(f"institution_id={area['clinic'].id}") == [p.id for p in oxy]
    assert ids(f"risk_tier=critical&prefecture_id={area['prefecture'].id}") == [vent.id]
    assert ids("q=コキュウ") == [vent.id]
    assert ids("q=呼吸") == [vent.id]
    assert ids("q=%25") == []
    assert ids("q=K-0042") == [vent.id]  # the office's own number, as on its spreadsheet
    assert ids("q=Ｋ－００４２") == [vent.id]  # typed full-width
    page = client.get(f"/api/v1/patients?prefecture_id={area['prefecture'].id}&limit=2&offset=2").json()
    assert page["total"] == 6 and page["limit"] == 2 and page["offset"] == 2
    assert [p["id"] for p in page["items"]] == [oxy[1].id, oxy[2].id]
