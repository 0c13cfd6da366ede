from sqlalchemy import update
from sqlmodel import select

from bcp_service.answers.service import record_answer
from bcp_service.auth.principal import Principal, patient_scope
from bcp_service.auth.roles import Role
from bcp_service.models import AuditEvent, Patient, SafetyCheck
from tests.factories import create_user
from tests.rounds.conftest import add_patient, round_body


def start(client, area, **extra):
    response = client.post("/api/v1/rounds", json=round_body(prefecture_id=area.prefecture.id) | extra)
    assert response.status_code == 201, response.text
    return response.json()


def test_summary_counts_by_state_tier_and_region(client, session, area):
    critical = add_patient(session, area.city, uses_ventilator=True, ventilator_mode="invasive")
    add_patient(session, area.city)
    add_patient(session, area.town, phones=[])
    created = start(client, area, drill=True)
    check = session.exec(select(SafetyCheck).where(SafetyCheck.patient_id == critical.id)).one()
    record_answer(session=session, check_id=check.id, state="needs_help", channel="link")
    summary = client.get(f"/api/v1/rounds/{created['id']}/summary").json()
    assert summary["label"] == "【訓練】" and summary["drill"] is True
    assert summary["total"] == 3 and summary["answered"] == 1
    assert summary["by_state"] == {"needs_help": 1, "no_answer": 1, "delivery_failed": 1}
    tiers = {row["key"]: row["counts"] for row in summary["by_risk_tier"]}
    assert tiers["critical"] == {"needs_help": 1}
    regions = {row["key"]: row for row in summary["by_region"]}
    assert regions[str(area.region.id)]["total"] == 2 and regions[str(area.region.id)]["name"] == area.region.name
    assert regions[""]["total"] == 1  # the town is in no region
    assert summary["messages"] == {"queued": 2}


def test_aggregate_role_sees_counts_with_small_cells_hidden_and_never_checks(client, client_as, session, area):
    for _ in range(3):
        add_patient(session, area.city)
    created = start(client, area)
    aggregate = client_as("aggregate")
    summary = aggregate.get(f"/api/v1/rounds/{created['id']}/summary").json()
    assert summary["min_cell"] == 10
    assert all(row["suppressed"] and row["total"] is None for row in summary["by_region"])
    assert aggregate.get(f"/api/v1/rounds/{created['id']}/checks").status_code == 403


def test_checks_are_scoped_filterable_and_audited(client, client_as, session, area):
    mine = add_patient(session, area.city, active_institution_id=area.clinic.id)
    add_patient(session, area.city)
    add_patient(session, area.town)
    created = start(client, area)
    clinic = client_as("institution", area.clinic.id)
    listed = clinic.get(f"/api/v1/rounds/{created['id']}/checks").json()
    assert [c["patient_id"] for c in listed["items"]] == [mine.id]
    assert listed["items"][0]["patient_name"] == mine.name and listed["items"][0]["delivery"] == "queued"
    everyone = client.get(f"/api/v1/rounds/{created['id']}/checks?limit=2").json()
    assert everyone["total"] == 3 and len(everyone["items"]) == 2
    assert client.get(f"/api/v1/rounds/{created['id']}/checks?municipality_id={area.town.id}").json()["total"] == 1
    assert client.get(f"/api/v1/rounds/{created['id']}/checks?answered=true").json()["total"] == 0
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "round.checks.list")).all()
    assert len(events) == 4 and events[0].patient_count == 1
    other_check = session.exec(select(SafetyCheck).where(SafetyCheck.patient_id != mine.id)).first()
    assert clinic.get(f"/api/v1/rounds/{created['id']}/checks/{other_check.id}").status_code == 404


def test_nurse_sees_patients_assigned_in_an_open_round(client, session, area):
    other_station = add_patient(session, area.town)
    created = start(client, area)
    nurse = create_user(session, "nurse", area.station.id)
    principal = Principal(nurse.id, nurse.username, Role.nurse, area.station.id)
    visible = lambda: set(session.exec(select(Patient.id).where(*patient_scope(principal))).all())  # noqa: E731
    assert other_station.id not in visible()
    session.execute(
        update(SafetyCheck).where(SafetyCheck.patient_id == other_station.id).values(assigned_user_id=nurse.id)
    )
    assert other_station.id in visible()
    client.post(f"/api/v1/rounds/{created['id']}/close")
    assert other_station.id not in visible()


def test_outbox_status_shows_queue_and_workers(client, session, area):
    add_patient(session, area.city)
    start(client, area)
    status = client.get("/api/v1/outbox/status").json()
    assert status["messages"]["queued"] >= 1 and status["due_now"] >= 1 and status["workers"] == []
