"""Files as offices keep them: an .xlsx workbook with a title above the header, merged cells, date cells,
和暦 and full-width digits, a 備考 column; a CSV with title rows; every silent mapping shown in the dry run."""

from __future__ import annotations

import io
import re
from datetime import date, datetime

from openpyxl import Workbook
from sqlmodel import select

from bcp_service.models import Patient
from tests.imports.conftest import HEADER_JA, counts, errors_of, patient_row, to_csv
from tests.page_clients import browser_as, csrf  # noqa: F401  (fixture)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(
    rows: list[list[object]], *, title_rows: int = 2, extra_sheet: bool = False, sheet: str = "患者一覧"
) -> bytes:
    book = Workbook()
    if extra_sheet:
        book.active.title = "説明"
        book.active["A1"] = "このブックの2枚目が患者一覧です"
        ws = book.create_sheet(sheet)
    else:
        ws = book.active
        ws.title = sheet
    if title_rows:
        ws.append(["在宅人工呼吸器・在宅酸素 患者一覧（千葉県 〇〇クリニック）"])
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=6)
        for _ in range(title_rows - 1):
            ws.append(["作成日", datetime(2026, 12, 1)])
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def sheet_rows(area, *patients: dict[str, object], header: list[str] | None = None) -> list[list[object]]:
    header = header or [*HEADER_JA, "備考"]
    return [header, *([p.get(h, "") for h in header] for p in patients)]


def test_xlsx_with_a_title_dates_era_and_full_width_digits(run, session, area):
    first = patient_row(area, "X-1", 生年月日=datetime(1950, 4, 1), 内部バッテリー時間="３", 備考="夜間は長女が同居")
    second = patient_row(area, "X-2", 生年月日="昭和45年3月2日", 呼吸器の種類="マスク", 外部バッテリー時間=6.0)
    third = patient_row(area, "X-3", 生年月日="S45.3.2", 市町村コード=int(area["city"].code))
    data = workbook(sheet_rows(area, first, second, third))

    dry = run(data, dry_run=True).report
    assert dry.ok, errors_of(dry)
    assert (dry.sheet, dry.header_line, dry.rows_total, dry.created) == ("患者一覧", 3, 3, 3)
    assert dry.encoding == "Excel (.xlsx)"
    assert dry.ignored_columns == ["備考"]
    assert [(r.column, r.written, r.read_as, r.rows) for r in dry.readings] == [
        ("呼吸器の種類", "マスク", "非侵襲 (NPPV)", 1)
    ]

    report = run(data).report
    assert report.written and report.created == 3
    patients = {
        p.external_id: p for p in session.exec(select(Patient).where(Patient.external_id.in_(["X-1", "X-2", "X-3"])))
    }
    assert patients["X-1"].birth_date == date(1950, 4, 1) and patients["X-1"].internal_battery_hours == 3
    assert patients["X-2"].birth_date == date(1970, 3, 2) and patients["X-2"].ventilator_mode == "non_invasive"
    assert patients["X-3"].birth_date == date(1970, 3, 2)


def test_xlsx_errors_name_the_sheet_row(run, area, session):
    before = counts(session)
    bad = patient_row(area, "X-9", 生年月日="令和99年1月1日")
    report = run(workbook(sheet_rows(area, patient_row(area, "X-8"), bad))).report
    assert not report.ok and counts(session) == before
    (line, column, _reason) = errors_of(report)[0]
    assert (line, column) == (5, "生年月日") and "和暦" not in column  # row 5 of the sheet: 2 title rows, header, X-8


def test_xlsx_chosen_sheet_and_missing_sheet(run, area):
    data = workbook(sheet_rows(area, patient_row(area, "X-5")), extra_sheet=True, title_rows=0)
    first_sheet = run(data, dry_run=True).report
    assert not first_sheet.ok and "知っている列名が1つもありません" in first_sheet.errors[0].reason
    report = run(data, dry_run=True, sheet="患者一覧").report
    assert report.ok and report.sheet == "患者一覧" and report.created == 1
    missing = run(data, dry_run=True, sheet="別紙").report
    assert "シート「別紙」がありません" in missing.errors[0].reason and "患者一覧" in missing.errors[0].reason


def test_cp932_csv_with_title_rows_above_the_header(run, area):
    text = "患者一覧（令和8年12月1日現在）\r\n〇〇訪問看護ステーション,,\r\n" + to_csv(
        [patient_row(area, "C-1")], HEADER_JA
    )
    report = run(text.encode("cp932"), dry_run=True).report
    assert report.ok, errors_of(report)
    assert (report.encoding, report.header_line, report.created) == ("Shift_JIS (CP932)", 3, 1)


def test_page_checks_an_xlsx_then_applies_it_without_choosing_it_again(browser_as, session, area):
    hub = browser_as("hub", area["hub"].id)
    token = csrf(hub.get("/imports").text)
    data = workbook(sheet_rows(area, patient_row(area, "W-1", 呼吸器の種類="マスク", 備考="鍵は隣家")))
    checked = hub.post(
        "/imports",
        data={"csrf_token": token, "kind": "patients", "step": "check"},
        files={"file": ("患者一覧.xlsx", data, XLSX)},
    )
    assert checked.status_code == 200 and "誤りはありません" in checked.text
    assert "3 行目を見出しとして読みました" in checked.text and "「備考」" in checked.text
    assert re.search(r"<td>マスク</td><td>非侵襲 \(NPPV\)</td>", checked.text)
    assert not session.exec(select(Patient).where(Patient.external_id == "W-1")).first()
    carried = re.search(r'name="carried" value="([^"]+)"', checked.text).group(1)
    sheet = re.search(r'name="sheet" value="([^"]*)"', checked.text).group(1)
    applied = hub.post(
        "/imports",
        data={
            "csrf_token": token,
            "kind": "patients",
            "step": "apply",
            "carried": carried,
            "filename": "患者一覧.xlsx",
            "sheet": sheet,
        },
    )
    assert applied.status_code == 200 and "取り込みました" in applied.text
    assert session.exec(select(Patient).where(Patient.external_id == "W-1")).first() is not None


def test_api_reads_an_xlsx(client_as, area):
    hub = client_as("hub", area["hub"].id)
    data = workbook(sheet_rows(area, patient_row(area, "A-1")), title_rows=0)
    response = hub.post("/api/v1/imports/patients?dry_run=true", files={"file": ("a.xlsx", data, XLSX)})
    assert response.status_code == 200, response.text
    assert response.json()["sheet"] == "患者一覧" and response.json()["created"] == 1
