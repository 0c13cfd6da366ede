"""The import and export pages: check a CP932 file, see the bad line, nothing written; apply the fixed file."""

from __future__ import annotations

import re

from sqlmodel import select

from bcp_service.models import Patient
from tests.imports.conftest import HEADER_JA, counts, patient_row, to_csv
from tests.page_clients import browser_as, csrf  # noqa: F401  (fixture)


def _post(browser, token, text, step="check", kind="patients"):
    return browser.post(
        "/imports",
        data={"csrf_token": token, "kind": kind, "step": step},
        files={"file": ("患者.csv", text.encode("cp932"), "text/csv")},
    )


def test_check_shows_the_bad_line_then_the_fixed_file_is_applied(browser_as, session, area):
    hub = browser_as("hub", area["hub"].id)
    token = csrf(hub.get("/imports").text)
    before = counts(session)
    bad = to_csv([patient_row(area, "P-1"), patient_row(area, "P-2", 生年月日="1950-13-40")], HEADER_JA)
    checked = _post(hub, token, bad)
    assert checked.status_code == 422
    assert "何も保存していません" in checked.text
    row = re.search(r'<tr><td class="num">(\d+)</td><td>([^<]+)</td><td>([^<]+)</td></tr>', checked.text)
    assert row.group(1) == "3" and row.group(2) == "生年月日"
    applied_anyway = _post(hub, token, bad, step="apply")
    assert applied_anyway.status_code == 422 and counts(session) == before

    good = to_csv([patient_row(area, "P-1"), patient_row(area, "P-2", 生年月日="1950-12-04")], HEADER_JA)
    checked = _post(hub, token, good)
    assert checked.status_code == 200 and "誤りはありません" in checked.text and counts(session) == before
    carried = re.search(r'name="carried" value="([^"]+)"', checked.text).group(1)
    applied = hub.post(
        "/imports",
        data={"csrf_token": token, "kind": "patients", "step": "apply", "carried": carried, "filename": "患者.csv"},
    )
    assert applied.status_code == 200 and "取り込みました" in applied.text
    assert len(session.exec(select(Patient).where(Patient.external_id.in_(["P-1", "P-2"]))).all()) == 2
    history = hub.get("/imports").text
    assert "新規 2" in history


def test_institution_import_is_for_admin_and_prefecture_only(browser_as, area):
    hub = browser_as("hub", area["hub"].id)
    page = hub.get("/imports")
    assert 'value="institutions"' not in page.text
    assert _post(hub, csrf(page.text), "外部ID,名称\r\n", kind="institutions").status_code == 403
    officer = browser_as("prefecture", area["prefecture"].id)
    assert 'value="institutions"' in officer.get("/imports").text


def test_export_form_drops_empty_choices(browser_as, area):
    hub = browser_as("hub", area["hub"].id)
    assert "患者CSVをダウンロード" in hub.get("/exports").text
    response = hub.get(
        "/exports/patients.csv",
        params={"region_id": "", "therapy": "oxygen", "status": "active"},
        follow_redirects=False,
    )
    assert (
        response.status_code == 303
        and response.headers["location"] == "/api/v1/exports/patients.csv?therapy=oxygen&status=active"
    )
    download = hub.get(response.headers["location"])
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
