"""Numbers and dates on the pages as people type them: full-width digits, 和暦 (issue 27.5); one reader with the import."""

from __future__ import annotations

from datetime import date

import pytest

from bcp_service.imports import values as import_values
from bcp_service.typed_input import date_text, japanese_only, number_text, parse_date
from tests.factories import (
    create_institution,
    create_municipality,
    create_patient,
    create_prefecture,
    create_region,
    designate,
)
from tests.page_clients import browser_as, csrf, field_error  # noqa: F401  (fixture)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("昭和45年3月2日", date(1970, 3, 2)),
        ("S45.3.2", date(1970, 3, 2)),
        ("R6/1/5", date(2024, 1, 5)),
        ("令和元年5月1日", date(2019, 5, 1)),
        ("２０２４－０１－０５", date(2024, 1, 5)),
        ("Ｈ３１．４．３０", date(2019, 4, 30)),
    ],
)
def test_dates_as_written_in_japan(typed, expected):
    assert parse_date(typed) == expected and date_text(typed) == expected.isoformat()


@pytest.mark.parametrize("typed", ["2024-13-45", "平成31年5月1日", "abc", "R0/1/1"])
def test_impossible_dates_are_refused_in_japanese(typed):
    with pytest.raises(ValueError) as caught:
        parse_date(typed)
    assert japanese_only(str(caught.value)).isascii() is False and "(" not in japanese_only(str(caught.value))[-3:]


def test_numbers_and_the_imports_share_one_reader():
    assert [number_text(t) for t in ("３", "２．５", "1,200", " 35.6581 ")] == ["3", "2.5", "1200", "35.6581"]
    for bad in ("abc", "inf", "nan", "１e999"):
        with pytest.raises(ValueError):
            number_text(bad)
    assert import_values.parse_date is parse_date


def test_japanese_only_drops_only_the_bracketed_english():
    assert japanese_only("和暦の年は1 (元年) から数えます (era years start at 1)") == "和暦の年は1 (元年) から数えます"
    assert japanese_only("値が正しくありません (invalid value: Input should be (a) number)") == "値が正しくありません"
    assert japanese_only("入力してください（例: 6）") == "入力してください（例: 6）"


def test_the_patient_form_takes_full_width_hours_and_an_era_birth_date(browser_as, session):
    prefecture = create_prefecture(session)
    city = create_municipality(session, prefecture)
    region = create_region(session, prefecture, [city])
    hub = create_institution(session, city, kind="medical_association")
    designate(session, hub, region, "hub", covers=[city])
    patient = create_patient(session, city, name="千葉 花子", hub_id=hub.id, uses_oxygen=True)
    browser = browser_as("hub", hub.id)
    page = browser.get(f"/registry/patients/{patient.id}")
    form = {
        "csrf_token": csrf(page.text),
        "name": "千葉 花子",
        "municipality_id": str(city.id),
        "hub_id": str(hub.id),
        "uses_oxygen": "on",
        "sex": "female",
    }
    typed = form | {
        "cylinder_hours": "３",
        "oxygen_flow_lpm": "１．５",
        "birth_date": "昭和45年3月2日",
        "disaster_share_consent_date": "R6/1/5",
    }
    saved = browser.post(f"/registry/patients/{patient.id}", data=typed, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    session.refresh(patient)
    assert (patient.cylinder_hours, patient.oxygen_flow_lpm) == (3, 1.5)
    assert patient.birth_date == date(1970, 3, 2) and patient.disaster_share_consent_date == date(2024, 1, 5)

    bad = browser.post(
        f"/registry/patients/{patient.id}", data=form | {"cylinder_hours": "三時間", "birth_date": "昭和99年1月1日"}
    )
    assert bad.status_code == 422
    assert field_error(bad.text, "cylinder_hours").startswith("数値として読めません")
    assert "昭和" in field_error(bad.text, "birth_date") and "(" not in field_error(bad.text, "birth_date")


def _options(page: str, field: str) -> dict[str, str]:
    import re

    select = re.search(rf'<select id="f-{field}"[^>]*>(.*?)</select>', page, re.S).group(0)
    return {m.group(1): m.group(2) for m in re.finditer(r'<option value="([^"]*)"[^>]*>([^<]*)<', select)} | {
        "_selected": (re.search(r'<option value="([^"]*)" selected', select) or re.search("()", "")).group(1),
        "_typeahead": "data-typeahead" in select.split(">", 1)[0],
    }


def test_the_active_institution_picker_lists_only_medical_institutions_with_the_callers_own_chosen(browser_as, session):
    prefecture = create_prefecture(session)
    city = create_municipality(session, prefecture)
    clinic = create_institution(session, city, name="花見川クリニック", kind="home_care_support_clinic")
    fire = create_institution(session, city, name="千葉市消防局", kind="fire_ems_agency")
    oxygen = create_institution(session, city, name="酸素サプライ", kind="equipment_supplier")
    for n in range(16):
        create_institution(session, city, name=f"診療所{n:02d}", kind="clinic")
    elsewhere = create_institution(
        session, create_municipality(session, create_prefecture(session)), name="他県の診療所"
    )
    page = browser_as("institution", clinic.id).get("/registry/patients/new").text
    active = _options(page, "active_institution_id")
    assert active["_selected"] == str(clinic.id) and active["_typeahead"]
    assert str(fire.id) not in active and str(oxygen.id) not in active and str(elsewhere.id) not in active
    assert '<script src="/static/picker.js" defer></script>' in page
