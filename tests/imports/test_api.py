"""The import API: reports, status codes, roles, scope and the audit log."""

import pytest
from sqlmodel import select

from bcp_service.imports.patients import PatientImport
from bcp_service.models import AuditEvent, AuditEventPatient, Patient
from tests.factories import create_municipality, create_patient, create_prefecture
from tests.imports.conftest import HEADER_JA, counts, patient_row, to_csv

URL = "/api/v1/imports/patients"


def upload(client, text, url=URL, **params):
    return client.post(url, params=params, files={"file": ("patients.csv", text.encode("cp932"), "text/csv")})


def audit_events(session, action):
    return session.exec(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_import_answers_the_report_and_audits_the_patients(client, session, area):
    response = upload(client, to_csv([patient_row(area, "P-1"), patient_row(area, "P-2")], HEADER_JA))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["written"], body["errors"], body["encoding"]) == (2, True, [], "Shift_JIS (CP932)")
    ids = set(session.exec(select(Patient.id).where(Patient.external_id.in_(["P-1", "P-2"]))).all())
    [event] = audit_events(session, "patient.import")
    assert event.patient_count == 2 and event.detail == "created=2 updated=0 unchanged=0"
    assert (
        set(session.exec(select(AuditEventPatient.patient_id).where(AuditEventPatient.event_id == event.id)).all())
        == ids
    )


def test_dry_run_writes_nothing_and_is_not_audited(client, session, area):
    before = counts(session)
    response = upload(client, to_csv([patient_row(area)], HEADER_JA), dry_run="true")
    assert response.status_code == 200
    assert (response.json()["created"], response.json()["written"], response.json()["dry_run"]) == (1, False, True)
    assert counts(session) == before
    assert audit_events(session, "patient.import") == []


def test_bad_file_answers_422_with_the_report(client, session, area):
    before = counts(session)
    rows = [patient_row(area, "P-1"), patient_row(area, "P-2", 生年月日="1950/13/1")]
    response = upload(client, to_csv(rows, HEADER_JA))
    assert response.status_code == 422
    body = response.json()
    assert body["errors"] == [{"line": 3, "column": "生年月日", "reason": "存在しない日付です (no such date)"}]
    assert (body["rows_total"], body["rows_valid"], body["written"]) == (2, 1, False)
    assert counts(session) == before
    assert audit_events(session, "patient.import") == []


def test_binary_upload_answers_422(client, session):
    before = counts(session)
    response = client.post(URL, files={"file": ("x.png", b"\x89PNG\r\n\x1a\n\x00\x00", "image/png")})
    assert response.status_code == 422 and "バイナリ" in response.json()["errors"][0]["reason"]
    assert counts(session) == before


def test_hub_cannot_import_a_patient_outside_its_municipalities(client_as, session, area):
    hub_client = client_as("hub", area["hub"].id)
    before = counts(session)
    rows = [patient_row(area, "P-1"), patient_row(area, "P-2", 市町村コード=area["town"].code)]
    response = upload(hub_client, to_csv(rows, HEADER_JA))
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["line"], error["column"]) == (3, "市町村コード") and "担当範囲外" in error["reason"]
    assert counts(session) == before
    assert upload(hub_client, to_csv(rows[:1], HEADER_JA)).status_code == 200


def test_institution_imports_only_its_own_patients(client_as, area):
    clinic_client = client_as("institution", area["clinic"].id)
    rows = [patient_row(area, "P-1"), patient_row(area, "P-2", 担当積極的医療機関ID="", 訪問看護ステーションID="")]
    response = upload(clinic_client, to_csv(rows, HEADER_JA))
    assert response.status_code == 422
    assert [(e["line"], e["column"]) for e in response.json()["errors"]] == [(3, "担当積極的医療機関ID")]


def test_written_rows_are_checked_again_with_the_sql_scope_rule(client_as, session, area, monkeypatch):
    # Should the in-memory scope check ever drift from patient_scope, the SQL check still refuses.
    monkeypatch.setattr(PatientImport, "_in_scope", lambda self, values: True)
    before = counts(session)
    response = upload(
        client_as("hub", area["hub"].id), to_csv([patient_row(area, 市町村コード=area["town"].code)], HEADER_JA)
    )
    assert response.status_code == 422 and "担当範囲外" in response.json()["errors"][0]["reason"]
    assert counts(session) == before


@pytest.mark.parametrize(
    ("role", "kind", "status"),
    [
        ("nurse", "patients", 403),
        ("aggregate", "patients", 403),
        ("hub", "institutions", 403),
        ("institution", "institutions", 403),
    ],
)
def test_roles_that_may_not_import(client_as, area, role, kind, status):
    response = upload(client_as(role, area["station"].id), "外部ID\r\nx\r\n", url=f"/api/v1/imports/{kind}")
    assert response.status_code == status


def test_anonymous_is_refused(anon_client):
    assert upload(anon_client, "外部ID\r\n").status_code == 401


def test_prefecture_imports_institutions_only_in_its_prefecture(client_as, session, area):
    other = create_municipality(session, create_prefecture(session))
    rows = [
        {"外部ID": "I-1", "名称": "架空診療所", "種別": "在支診", "市町村コード": area["city"].code},
        {"外部ID": "I-2", "名称": "他県診療所", "種別": "診療所", "市町村コード": other.code},
    ]
    prefecture_client = client_as("prefecture", area["prefecture"].id)
    response = upload(prefecture_client, to_csv(rows), url="/api/v1/imports/institutions")
    assert response.status_code == 422
    assert [(e["line"], e["column"]) for e in response.json()["errors"]] == [(3, "市町村コード")]
    response = upload(prefecture_client, to_csv(rows[:1]), url="/api/v1/imports/institutions")
    assert response.status_code == 200 and response.json()["created"] == 1
    assert len(audit_events(session, "institution.import")) == 1


def test_a_row_whose_id_is_used_only_outside_the_scope_is_a_new_patient(client_as, session, area):
    """The same report, the same audit and a new patient whether the id is used elsewhere or never was:
    the import is no oracle for patients outside the caller's scope."""
    elsewhere = create_patient(session, area["town"], external_id="ELSEWHERE", external_id_owner="hub:999")
    hub_client = client_as("hub", area["hub"].id)
    answers = [
        upload(hub_client, to_csv([patient_row(area, key)], HEADER_JA), dry_run=dry)
        for dry in ("true", "false")
        for key in ("ELSEWHERE", "NEVER-USED")
    ]
    for response in answers:
        assert response.status_code == 200, response.text
    assert answers[0].json() == answers[1].json() and answers[2].json() == answers[3].json()
    assert answers[2].json()["created"] == 1 and answers[2].json()["errors"] == []
    rows = session.exec(select(Patient).where(Patient.external_id == "ELSEWHERE").order_by(Patient.id)).all()
    assert [p.municipality_id for p in rows] == [area["town"].id, area["city"].id]
    session.refresh(elsewhere)
    assert elsewhere.name != "架空 太郎" and elsewhere.external_id_owner == "hub:999"
    # Imported again, the row updates the hub's own patient and nothing else.
    again = upload(hub_client, to_csv([patient_row(area, "ELSEWHERE", 氏名="架空 次郎")], HEADER_JA)).json()
    assert (again["created"], again["updated"]) == (0, 1)
    session.refresh(elsewhere)
    assert elsewhere.name != "架空 次郎"


def test_an_internal_id_outside_the_scope_reads_as_one_never_used(client_as, session, area):
    outside = create_patient(session, area["town"])
    hub_client = client_as("hub", area["hub"].id)
    reasons = [
        upload(hub_client, to_csv([patient_row(area, key)], HEADER_JA)).json()["errors"][0]["reason"]
        for key in (f"#{outside.id}", "#999999999")
    ]
    assert reasons[0] == reasons[1].replace("#999999999", f"#{outside.id}")


def test_an_in_scope_id_still_matches_and_several_holders_ask_for_the_internal_id(client_as, session, area):
    clinic_patient = create_patient(
        session,
        area["city"],
        external_id="SHARED",
        external_id_owner="institution:1",
        active_institution_id=area["clinic"].id,
    )
    create_patient(session, area["city"], external_id="SHARED", external_id_owner="institution:2")
    create_patient(
        session,
        area["city"],
        external_id="ONE",
        external_id_owner="institution:1",
        active_institution_id=area["clinic"].id,
    )
    hub_client = client_as("hub", area["hub"].id)
    response = upload(hub_client, to_csv([patient_row(area, "SHARED")], HEADER_JA))
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["column"] == "外部ID" and "#患者番号" in error["reason"]
    # The clinic sees only one of them: its row updates that one.
    clinic_client = client_as("institution", area["clinic"].id)
    answer = upload(clinic_client, to_csv([patient_row(area, "SHARED"), patient_row(area, "ONE")], HEADER_JA)).json()
    assert (answer["created"], answer["updated"], answer["errors"]) == (0, 2, [])
    session.refresh(clinic_patient)
    assert clinic_patient.name == "架空 太郎"
