"""Good files: encodings, header languages, upsert, idempotence, update detection."""

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bcp_service.imports.lookups import bulk_insert
from bcp_service.models import Patient, PatientContact
from tests.factories import create_patient
from tests.imports.conftest import HEADER_JA, counts, patient_row, to_csv

HEADER_EN = [
    "external_id",
    "name",
    "name_kana",
    "birth_date",
    "sex",
    "municipality_code",
    "uses_ventilator",
    "ventilator_mode",
    "internal_battery_hours",
    "external_battery_hours",
    "active_institution_external_id",
    "visiting_nurse_station_external_id",
    "contact1_phone",
    "contact2_phone",
    "contact2_relation",
]


def patient(session, external_id) -> Patient:
    return session.exec(select(Patient).where(Patient.external_id == external_id)).one()


def contacts(session, patient_id) -> list[tuple]:
    rows = session.exec(
        select(PatientContact).where(PatientContact.patient_id == patient_id).order_by(PatientContact.position)
    )
    return [(c.position, c.kind, c.phone, c.relation) for c in rows]


def two_rows(area):
    return [
        patient_row(area, "P-1"),
        patient_row(
            area,
            "P-2",
            氏名="架空 花子",
            性別="女",
            人工呼吸器="いいえ",
            呼吸器の種類="",
            内部バッテリー時間="",
            外部バッテリー時間="",
            生年月日="昭和30年1月2日",
        ),
    ]


def check_imported(session, area):
    first = patient(session, "P-1")
    assert first.name == "架空 太郎"
    assert str(first.birth_date) == "1950-04-01"
    assert first.municipality_id == area["city"].id
    assert first.uses_ventilator and first.ventilator_mode == "invasive"
    assert first.risk_tier == "critical"
    assert first.active_institution_id == area["clinic"].id
    assert first.visiting_nurse_station_id == area["station"].id
    assert contacts(session, first.id) == [(1, "self", "+819012345678", None), (2, "family", "+81312345678", "配偶者")]
    second = patient(session, "P-2")
    assert (second.sex, str(second.birth_date), second.uses_ventilator, second.risk_tier) == (
        "female",
        "1955-01-02",
        False,
        "standard",
    )


def test_utf8_without_bom(session, run, area):
    result = run(to_csv(two_rows(area), HEADER_JA).encode("utf-8"))
    report = result.report
    assert report.ok and report.written, report.errors
    assert (report.encoding, report.rows_total, report.rows_valid, report.created, report.updated) == (
        "UTF-8",
        2,
        2,
        2,
        0,
    )
    assert len(result.affected_ids) == 2
    check_imported(session, area)


def test_utf8_with_bom(session, run, area):
    report = run(b"\xef\xbb\xbf" + to_csv(two_rows(area), HEADER_JA).encode("utf-8")).report
    assert report.ok and report.encoding == "UTF-8 (BOM付き)" and report.created == 2
    check_imported(session, area)


def test_cp932_with_japanese_headers(session, run, area):
    report = run(to_csv(two_rows(area), HEADER_JA).encode("cp932")).report
    assert report.ok and report.encoding == "Shift_JIS (CP932)" and report.created == 2
    check_imported(session, area)


def test_english_headers(session, run, area):
    rows = [dict(zip(HEADER_EN, r.values(), strict=True)) for r in two_rows(area)]
    rows[1]["sex"] = "female"
    report = run(to_csv(rows, HEADER_EN, newline="\n")).report
    assert report.ok and report.created == 2, report.errors
    check_imported(session, area)


def test_same_file_twice_changes_nothing(session, run, area):
    data = to_csv(two_rows(area), HEADER_JA)
    assert run(data).report.created == 2
    before = [(p.id, p.updated_at) for p in session.exec(select(Patient).order_by(Patient.id))]
    contact_ids = [c.id for c in session.exec(select(PatientContact).order_by(PatientContact.id))]
    again = run(data)
    assert (again.report.created, again.report.updated, again.report.unchanged) == (0, 0, 2)
    assert again.affected_ids == []
    assert [(p.id, p.updated_at) for p in session.exec(select(Patient).order_by(Patient.id))] == before
    assert [c.id for c in session.exec(select(PatientContact).order_by(PatientContact.id))] == contact_ids


def test_changes_are_detected_and_risk_tier_recomputed(session, run, area):
    run(to_csv(two_rows(area), HEADER_JA))
    first = patient(session, "P-1")
    changed = [
        patient_row(area, "P-1", 呼吸器の種類="NPPV", 内部バッテリー時間="6", 外部バッテリー時間="6"),
        two_rows(area)[1],
    ]
    changed[0]["機器なしで過ごせる時間"] = "4"
    result = run(to_csv(changed, [*HEADER_JA, "機器なしで過ごせる時間"]))
    assert (result.report.created, result.report.updated, result.report.unchanged) == (0, 1, 1)
    assert result.affected_ids == [first.id]
    session.refresh(first)
    assert (first.ventilator_mode, first.risk_tier) == ("non_invasive", "high")
    assert first.updated_at is not None


def test_contact_change_replaces_contacts_only_for_that_patient(session, run, area):
    run(to_csv(two_rows(area), HEADER_JA))
    rows = two_rows(area)
    rows[0]["連絡先2電話"] = "080-9999-0000"
    report = run(to_csv(rows, HEADER_JA)).report
    assert (report.updated, report.unchanged) == (1, 1)
    assert contacts(session, patient(session, "P-1").id)[1] == (2, "family", "+818099990000", "配偶者")


def test_columns_absent_from_the_file_are_left_alone(session, run, area):
    run(to_csv(two_rows(area), HEADER_JA))
    report = run(
        to_csv([{"外部ID": "P-1", "氏名": "架空 太郎", "市町村コード": area["city"].code, "状態": "入院"}])
    ).report
    assert (report.updated, report.unchanged) == (1, 0)
    first = patient(session, "P-1")
    assert (first.status, first.uses_ventilator, first.active_institution_id) == ("admitted", True, area["clinic"].id)
    assert len(contacts(session, first.id)) == 2


def test_rows_without_external_id_are_matched_by_internal_number(session, run, area):
    existing = create_patient(session, area["city"], name="登録 済子")
    report = run(
        to_csv([{"外部ID": f"#{existing.id}", "氏名": "登録 済子", "市町村コード": area["city"].code, "状態": "転居"}])
    ).report
    assert (report.created, report.updated) == (0, 1), report.errors
    session.refresh(existing)
    assert existing.status == "moved" and existing.external_id is None


def test_blank_lines_and_quoted_newlines_keep_physical_line_numbers(session, run, area):
    rows = two_rows(area)
    rows[0]["氏名"] = "架空\n太郎"
    text = to_csv(rows, HEADER_JA).replace("\r\nP-2", "\r\n\r\nP-2")
    bad = text.replace("P-2,架空 花子", "P-2,=架空")
    report = run(bad).report
    assert [(e.line, e.column) for e in report.errors] == [(5, "氏名")]


def test_dry_run_counts_but_writes_nothing(session, run, area):
    before = counts(session)
    report = run(to_csv(two_rows(area), HEADER_JA), dry_run=True).report
    assert report.ok and not report.written and report.created == 2
    assert counts(session) == before


def test_institution_import_then_patients_refer_to_it(session, run, area):
    institutions = [
        {
            "外部ID": "NEW-ST",
            "名称": "架空訪問看護ステーション",
            "種別": "訪問看護ステーション",
            "機能強化型": "○",
            "市町村コード": area["city"].code,
            "電話番号": "043-123-4567",
        }
    ]
    report = run(to_csv(institutions), kind="institutions").report
    assert report.ok and report.created == 1, report.errors
    report = run(to_csv([patient_row(area, 訪問看護ステーションID="NEW-ST")], HEADER_JA)).report
    assert report.ok, report.errors
    again = run(to_csv(institutions), kind="institutions").report
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    institutions[0]["名称"] = "架空訪問看護ステーション本店"
    assert run(to_csv(institutions), kind="institutions").report.updated == 1


def test_a_row_that_appeared_meanwhile_surfaces_as_an_integrity_error(session, area):
    """Another import by the same organisation committing the same external id between our check and
    our write: the database refuses it and the caller sees SQLAlchemy's IntegrityError (409 in the API)."""
    taken = create_patient(session, area["city"], external_id="TAKEN", external_id_owner="hub:1")
    row = {k: v for k, v in taken.model_dump().items() if k not in {"id", "name_bigrams"}}
    with pytest.raises(IntegrityError), session.begin_nested():
        bulk_insert(session, Patient.__table__, [row])
