import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.factories import create_municipality, create_patient, create_prefecture


@pytest.fixture
def patients(session):
    city = create_municipality(session, create_prefecture(session))
    return [create_patient(session, city) for _ in range(3)]


def test_reads_and_changes_are_audited(client, client_as, patients):
    client.get(f"/api/v1/patients/{patients[0].id}")
    client.get("/api/v1/patients?limit=500")
    client.patch(f"/api/v1/patients/{patients[1].id}", json={"address": "架空町1-1"})
    events = client.get(f"/api/v1/audit?patient_id={patients[0].id}").json()["items"]
    actions = [e["action"] for e in events]
    assert "patient.read" in actions and "patient.list" in actions
    read = next(e for e in events if e["action"] == "patient.read")
    assert read["patient_ids"] == [patients[0].id] and read["username"].startswith("admin")
    assert read["resource"] == "GET /api/v1/patients/{patient_id}" and read["address"]
    changed = client.get(f"/api/v1/audit?patient_id={patients[1].id}&action=patient.update").json()
    assert changed["total"] == 1
    assert client_as("hub", 1).get("/api/v1/audit").status_code == 403


def test_audit_export_is_excel_csv(client, patients):
    client.get(f"/api/v1/patients/{patients[0].id}")
    response = client.get("/api/v1/audit/export.csv")
    assert response.status_code == 200
    assert response.content.startswith("\ufeff".encode())
    assert "patient.read" in response.content.decode("utf-8-sig")


def test_audit_log_is_append_only_in_the_database(client, session, patients):
    client.get(f"/api/v1/patients/{patients[0].id}")
    with pytest.raises(DBAPIError), session.begin_nested():
        session.execute(text("UPDATE audit_event SET action = 'tampered'"))
