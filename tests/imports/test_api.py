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
    assert set(session.exec(select(AuditEventPatient.patient_id).where(AuditEventPatient.event_id == event.id)).all()) == ids


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


def test_hub_cannot_take_over_a_patient_outside_its_scope(client_as, session, area):
    create_patient(session, area["town"], external_id="ELSEWHERE")
    response = upload(client_as("hub", area["hub"].id), to_csv([patient_row(area, "ELSEWHERE")], HEADER_JA))
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["line"], error["column"]) == (2, "外部ID") and "担当範囲外" in error["reason"]
    assert session.exec(select(Patient).where(Patient.external_id == "ELSEWHERE")).one().municipality_id == area["town"].id


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
    response = upload(client_as("hub", area["hub"].id), to_csv([patient_row(area, 市町村コード=area["town"].code)], HEADER_JA))
    assert response.status_code == 422 and "担当範囲外" in response.json()["errors"][0]["reason"]
    assert counts(session) == before


@pytest.mark.parametrize(("role", "kind", "status"), [("nurse", "patients", 403), ("aggregate", "patients", 403),
                                                       ("hub", "institutions", 403), ("institution", "institutions", 403)])
def test_roles_that_may_not_import(client_as, area, role, kind, status):
    response = upload(client_as(role, area["station"].id), "外部ID\r\nx\r\n", url=f"/api/v1/imports/{kind}")
    assert response.status_code == status


def test_anonymous_is_refused(anon_client):
    assert upload(anon_client, "外部ID\r\n").status_code == 401


def test_prefecture_imports_institutions_only_in_its_prefecture(client_as, session, area):
    other = create_municipality(session, create_prefecture(session))
    rows = [{"外部ID": "I-1", "名称": "架空診療所", "種別": "在支診", "市町村コード": area["city"].code},
            {"外部ID": "I-2", "名称": "他県診療所", "種別": "診療所", "市町村コード": other.code}]
    prefecture_client = client_as("prefecture", area["prefecture"].id)
    response = upload(prefecture_client, to_csv(rows), url="/api/v1/imports/institutions")
    assert response.status_code == 422
    assert [(e["line"], e["column"]) for e in response.json()["errors"]] == [(3, "市町村コード")]
    response = upload(prefecture_client, to_csv(rows[:1]), url="/api/v1/imports/institutions")
    assert response.status_code == 200 and response.json()["created"] == 1
    assert len(audit_events(session, "institution.import")) == 1
