"""Patient export: BOM, Japanese headers, neutralised cells, scope, audit, and a clean re-import."""

import csv
import io

from sqlmodel import select

from bcp_service.models import AuditEvent, AuditEventPatient, Patient, PatientContact
from tests.factories import create_institution, create_patient
from tests.imports.conftest import HEADER_JA, patient_row, to_csv

URL = "/api/v1/exports/patients.csv"


def parse(content: bytes) -> list[dict]:
    assert content.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def snapshot(session) -> list[tuple]:
    patients = [
        p.model_dump(exclude={"created_at", "updated_at"}) for p in session.exec(select(Patient).order_by(Patient.id))
    ]
    contacts = [c.model_dump() for c in session.exec(select(PatientContact).order_by(PatientContact.id))]
    return [patients, contacts]


def test_export_has_bom_japanese_headers_and_neutralised_cells(client, session, area):
    create_patient(
        session,
        area["city"],
        external_id="X-1",
        name='=HYPERLINK("x")',
        address="@SUM(A1)",
        evacuation_destination="-避難所",
        phones=["+819012345678"],
    )
    response = client.get(URL)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf\xe5\xa4\x96\xe9\x83\xa8ID,")  # BOM then 外部ID
    [row] = parse(response.content)
    assert (row["氏名"], row["住所"], row["避難先"]) == ('\'=HYPERLINK("x")', "'@SUM(A1)", "'-避難所")
    assert (row["連絡先1電話"], row["市町村コード"], row["在宅酸素"], row["リスク区分"]) == (
        "090-1234-5678",
        area["city"].code,
        "はい",
        "優先",
    )


def test_export_reimports_without_changes(client, session, area):
    plain_station = create_institution(session, area["city"], kind="visiting_nurse_station")  # no external id
    imported = client.post(
        "/api/v1/imports/patients",
        files={
            "file": (
                "p.csv",
                to_csv(
                    [
                        patient_row(area, "R-1", 生年月日="S25.4.1"),
                        patient_row(area, "R-2", 人工呼吸器="いいえ", 呼吸器の種類=""),
                    ],
                    HEADER_JA,
                ).encode("utf-8"),
                "text/csv",
            )
        },
    )
    assert imported.status_code == 200, imported.text
    create_patient(
        session,
        area["town"],
        name="=外部ID なし",
        visiting_nurse_station_id=plain_station.id,
        phones=["+819011112222", "+81312345678", "+818011112222", "+817011112222"],
        latitude=35.6072123,
    )
    before = snapshot(session)
    exported = client.get(URL).content
    rows = parse(exported)
    assert (
        len(rows) == 3
        and rows[2]["外部ID"].startswith("#")
        and rows[2]["訪問看護ステーションID"] == f"#{plain_station.id}"
    )
    assert rows[2]["連絡先4電話"] == "070-1111-2222"  # more slots than the template's three when a patient needs them

    response = client.post("/api/v1/imports/patients", files={"file": ("export.csv", exported, "text/csv")})
    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["updated"], response.json()["unchanged"]) == (0, 0, 3)
    assert snapshot(session) == before


def test_export_is_scoped_filtered_and_audited(client_as, client, session, area):
    inside = create_patient(session, area["city"], external_id="IN")
    create_patient(session, area["town"], external_id="OUT")
    rows = parse(client_as("hub", area["hub"].id).get(URL).content)
    assert [r["外部ID"] for r in rows] == ["IN"]
    [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "patient.export")).all()
    assert session.exec(select(AuditEventPatient.patient_id).where(AuditEventPatient.event_id == event.id)).all() == [
        inside.id
    ]
    assert [r["外部ID"] for r in parse(client.get(URL, params={"municipality_id": area["town"].id}).content)] == ["OUT"]


def test_export_refused_without_identity(client_as, anon_client):
    assert anon_client.get(URL).status_code == 401
    assert client_as("aggregate").get(URL).status_code == 403


def test_an_email_only_family_goes_out_and_comes_back_in_its_own_column(client, session, area):
    from bcp_service.models import ContactAddress

    header = [*HEADER_JA, "連絡先2メールアドレス"]
    row = patient_row(area, "M-1", 連絡先2電話="", 連絡先2続柄="長女") | {"連絡先2メールアドレス": "Hanako@Example.JP"}
    imported = client.post(
        "/api/v1/imports/patients", files={"file": ("m.csv", to_csv([row], header).encode("utf-8"), "text/csv")}
    )
    assert imported.status_code == 200 and imported.json()["created"] == 1, imported.text
    patient_id = session.exec(select(Patient.id).where(Patient.external_id == "M-1")).one()
    family = session.exec(
        select(PatientContact).where(PatientContact.patient_id == patient_id, PatientContact.position == 2)
    ).one()
    assert family.phone is None
    assert (
        session.exec(select(ContactAddress.address).where(ContactAddress.contact_id == family.id)).one()
        == "Hanako@example.jp"
    )
    exported = client.get(URL).content
    (out,) = [r for r in parse(exported) if r["外部ID"] == "M-1"]
    assert out["連絡先2メールアドレス"] == "Hanako@example.jp" and out["連絡先2電話"] == ""
    again = client.post("/api/v1/imports/patients", files={"file": ("export.csv", exported, "text/csv")})
    assert (again.json()["created"], again.json()["updated"]) == (0, 0), again.text
    changed = row | {"連絡先2メールアドレス": "new@example.jp"}
    moved = client.post(
        "/api/v1/imports/patients", files={"file": ("m.csv", to_csv([changed], header).encode("utf-8"), "text/csv")}
    )
    assert moved.json()["updated"] == 1, moved.text
    session.expire_all()
    assert session.exec(
        select(ContactAddress.address).where(
            ContactAddress.contact_id.in_(select(PatientContact.id).where(PatientContact.patient_id == patient_id))
        )
    ).all() == ["new@example.jp"]
    bad = client.post(
        "/api/v1/imports/patients",
        files={
            "file": ("m.csv", to_csv([row | {"連絡先2メールアドレス": "hanako@"}], header).encode("utf-8"), "text/csv")
        },
    )
    errors = bad.json()["errors"]
    assert bad.status_code == 422 and [e["column"] for e in errors if "メールアドレスの形" in e["reason"]] in (
        ["contact2_email"],
        ["連絡先2メールアドレス"],
    ), errors
