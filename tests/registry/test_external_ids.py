"""External ids are unique only among the patients a caller sees (issue 12): an id used in another
institution or prefecture answers exactly as an unused one, on the API, the pages and the import."""

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bcp_service.models import Patient
from tests.factories import create_institution, create_municipality, create_prefecture, create_region, designate
from tests.page_clients import browser_as, csrf, field_error  # noqa: F401  (fixture)


@pytest.fixture
def world(session):
    """Prefecture 1 (a city its hub covers, a town it does not) and prefecture 2, each with a clinic."""
    here, there = create_prefecture(session), create_prefecture(session)
    city, town, far = (
        create_municipality(session, here),
        create_municipality(session, here),
        create_municipality(session, there),
    )
    region = create_region(session, here, [city])
    clinic = create_institution(session, city)
    hub = create_institution(session, city, kind="medical_association")
    designate(session, clinic, region, "active_institution")
    designate(session, hub, region, "hub", covers=[city])
    far_clinic = create_institution(session, far)
    return {
        "here": here,
        "there": there,
        "city": city,
        "town": town,
        "far": far,
        "clinic": clinic,
        "hub": hub,
        "far_clinic": far_clinic,
    }


def body(world, municipality="city", clinic="clinic", **overrides):
    return {
        "name": "架空 太郎",
        "sex": "male",
        "municipality_id": world[municipality].id,
        "active_institution_id": world[clinic].id,
        "contacts": [{"kind": "self", "phone": "090-1234-5678"}],
        **overrides,
    }


def callers(client_as, world):
    return {
        "clinic": client_as("institution", world["clinic"].id),
        "hub": client_as("hub", world["hub"].id),
        "prefecture": client_as("prefecture", world["here"].id),
    }


def shape(response) -> tuple:
    """What a caller can compare between two answers: status, and the body without the new row's own values."""
    data = response.json()
    return response.status_code, sorted(data) if isinstance(data, dict) else data


def test_two_institutions_in_different_scopes_hold_the_same_id(client_as, client, session, world):
    far = client_as("institution", world["far_clinic"].id)
    assert far.post("/api/v1/patients", json=body(world, "far", "far_clinic", external_id="K-1")).status_code == 201
    near = client_as("institution", world["clinic"].id)
    assert near.post("/api/v1/patients", json=body(world, external_id="K-1")).status_code == 201
    rows = session.exec(select(Patient).where(Patient.external_id == "K-1").order_by(Patient.id)).all()
    assert [(p.municipality_id, p.external_id_owner) for p in rows] == [
        (world["far"].id, f"institution:{world['far_clinic'].id}"),
        (world["city"].id, f"institution:{world['clinic'].id}"),
    ]
    # Each sees its own; the admin sees both.
    assert [p["municipality_id"] for p in near.get("/api/v1/patients").json()["items"]] == [world["city"].id]
    assert len([p for p in client.get("/api/v1/patients").json()["items"] if p["external_id"] == "K-1"]) == 2


def test_create_answers_alike_for_an_id_used_elsewhere_and_an_unused_one(client_as, session, world):
    far = client_as("institution", world["far_clinic"].id)
    for n in range(3):
        far.post("/api/v1/patients", json=body(world, "far", "far_clinic", external_id=f"FAR-{n}"))
    for n, (role, caller) in enumerate(callers(client_as, world).items()):
        used = caller.post("/api/v1/patients", json=body(world, external_id=f"FAR-{n}"))
        unused = caller.post("/api/v1/patients", json=body(world, external_id=f"NEW-{n}"))
        assert used.status_code == 201, (role, used.text)
        assert shape(used) == shape(unused)
        assert used.json()["external_id"] == f"FAR-{n}"
    assert session.exec(select(Patient).where(Patient.external_id.like("FAR-%"))).all().__len__() == 6


def test_a_duplicate_the_caller_sees_is_still_a_conflict(client_as, world):
    clients = callers(client_as, world)
    assert clients["clinic"].post("/api/v1/patients", json=body(world, external_id="IN-1")).status_code == 201
    for role, caller in clients.items():
        # The clinic wrote it; the hub and the prefecture see the patient, so the id is taken for them too.
        response = caller.post("/api/v1/patients", json=body(world, external_id="IN-1"))
        assert response.status_code == 409, role
        [detail] = response.json()["detail"]
        assert detail["loc"] == ["body", "external_id"] and "使われています" in detail["msg"]


def test_patch_answers_alike_and_conflicts_only_in_scope(client_as, session, world):
    far = client_as("institution", world["far_clinic"].id)
    far.post("/api/v1/patients", json=body(world, "far", "far_clinic", external_id="FAR-P"))
    clinic = client_as("institution", world["clinic"].id)
    first = clinic.post("/api/v1/patients", json=body(world, external_id="MINE-1")).json()
    second = clinic.post("/api/v1/patients", json=body(world, external_id="MINE-2")).json()
    used = clinic.patch(f"/api/v1/patients/{first['id']}", json={"external_id": "FAR-P"})
    unused = clinic.patch(f"/api/v1/patients/{second['id']}", json={"external_id": "NEW-P"})
    assert (used.status_code, unused.status_code) == (200, 200) and shape(used) == shape(unused)
    conflict = clinic.patch(f"/api/v1/patients/{second['id']}", json={"external_id": "FAR-P"})
    assert conflict.status_code == 409 and conflict.json()["detail"][0]["loc"] == ["body", "external_id"]
    assert session.get(Patient, second["id"]).external_id == "NEW-P"


def test_an_id_whose_patient_left_the_callers_scope_is_free_for_it_again(client_as, client, session, world):
    hub = client_as("hub", world["hub"].id)
    created = hub.post("/api/v1/patients", json=body(world, external_id="H-1")).json()
    # Another account moves the patient out of the hub's area; the hub no longer sees it.
    moved = client.patch(
        f"/api/v1/patients/{created['id']}",
        json={"municipality_id": world["far"].id, "active_institution_id": world["far_clinic"].id},
    )
    assert moved.status_code == 200
    assert hub.get(f"/api/v1/patients/{created['id']}").status_code == 404
    again = hub.post("/api/v1/patients", json=body(world, external_id="H-1"))
    assert again.status_code == 201
    old = session.get(Patient, created["id"])
    session.refresh(old)
    assert (old.external_id, old.external_id_owner) == ("H-1", None)
    assert session.get(Patient, again.json()["id"]).external_id_owner == f"hub:{world['hub'].id}"


def test_the_database_keeps_an_id_unique_per_owner(session, world):
    def add(owner):
        session.add(Patient(name="架空", municipality_id=world["city"].id, external_id="DB-1", external_id_owner=owner))
        session.flush()

    add("institution:1")
    add("institution:2")
    add(None)
    add(None)
    with pytest.raises(IntegrityError), session.begin_nested():
        add("institution:1")


def test_page_form_answers_alike_and_shows_an_in_scope_duplicate_in_japanese(browser_as, client_as, session, world):
    far = client_as("institution", world["far_clinic"].id)
    far.post("/api/v1/patients", json=body(world, "far", "far_clinic", external_id="FAR-W"))
    far.post("/api/v1/patients", json=body(world, "far", "far_clinic", external_id="FAR-X"))
    hub = browser_as("hub", world["hub"].id)
    token = csrf(hub.get("/registry/patients/new").text)
    form = {
        "csrf_token": token,
        "name": "架空 次郎",
        "municipality_id": str(world["city"].id),
        "sex": "male",
        "hub_id": str(world["hub"].id),
        "contact_phone": "090-1234-0000",
        "contact_kind": "self",
        "contact_preferred_channel": "sms",
    }
    used = hub.post("/registry/patients/new", data=form | {"external_id": "FAR-W"}, follow_redirects=False)
    unused = hub.post("/registry/patients/new", data=form | {"external_id": "NEW-W"}, follow_redirects=False)
    assert (used.status_code, unused.status_code) == (303, 303)
    again = hub.post("/registry/patients/new", data=form | {"external_id": "NEW-W"}, follow_redirects=False)
    assert again.status_code == 409
    assert "この外部IDは担当範囲の別の患者に使われています" in field_error(again.text, "external_id")
    # The edit form: the same rule.
    patient = session.exec(
        select(Patient).where(Patient.external_id == "FAR-W", Patient.municipality_id == world["city"].id)
    ).one()
    assert patient.external_id_owner == f"hub:{world['hub'].id}"
    page = hub.get(f"/registry/patients/{patient.id}")
    from bcp_service.registry.page_forms import patient_values

    values = {k: v for k, v in patient_values(patient).items() if v} | {"csrf_token": csrf(page.text)}
    refused = hub.post(f"/registry/patients/{patient.id}", data=values | {"external_id": "NEW-W"})
    assert refused.status_code == 409 and "使われています" in field_error(refused.text, "external_id")
    assert (
        hub.post(
            f"/registry/patients/{patient.id}", data=values | {"external_id": "FAR-X"}, follow_redirects=False
        ).status_code
        == 303
    )
    session.refresh(patient)
    assert patient.external_id == "FAR-X"
