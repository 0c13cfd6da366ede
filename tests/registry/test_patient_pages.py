"""The patient pages: search as typed, edit with errors next to the field, contacts one at a time, status."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from bcp_service.models import AuditEvent, Patient, PatientContact
from tests.factories import (
    create_institution,
    create_municipality,
    create_patient,
    create_prefecture,
    create_region,
    designate,
)
from tests.page_clients import browser_as, csrf, field_error  # noqa: F401  (fixture)


@pytest.fixture
def area(session):
    prefecture = create_prefecture(session)
    city = create_municipality(session, prefecture)
    other = create_municipality(session, prefecture)
    region = create_region(session, prefecture, [city])
    hub = create_institution(session, city, kind="medical_association")
    designate(session, hub, region, "hub", covers=[city])
    clinic = create_institution(session, city)
    hayashi = create_patient(
        session,
        city,
        name="林 花子",
        name_kana="ハヤシ ハナコ",
        hub_id=hub.id,
        phones=["+819011112222", "+81312345678"],
    )
    outside = create_patient(session, other, name="林 一郎", name_kana="ハヤシ イチロウ")
    return {
        "prefecture": prefecture,
        "city": city,
        "other": other,
        "hub": hub,
        "clinic": clinic,
        "hayashi": hayashi,
        "outside": outside,
    }


def _form(html: str, patient: Patient) -> dict:
    from bcp_service.registry.page_forms import patient_values

    values = {k: v for k, v in patient_values(patient).items() if v}
    return values | {"csrf_token": csrf(html)}


def test_hub_finds_a_patient_typed_in_hiragana_and_only_in_scope(browser_as, session, area):
    hub = browser_as("hub", area["hub"].id)
    page = hub.get("/registry/patients", params={"q": "はやし　はなこ"})
    assert page.status_code == 200
    assert "林 花子" in page.text and "林 一郎" not in page.text
    assert (
        len(re.findall(r'href="/registry/patients/\d+"', hub.get("/registry/patients", params={"q": "林花子"}).text))
        == 1
    )
    event = session.exec(
        select(AuditEvent).where(AuditEvent.action == "patient.list").order_by(AuditEvent.id.desc())
    ).first()
    assert event.username == hub.user.username and event.patient_count == 1
    assert hub.get(f"/registry/patients/{area['outside'].id}").status_code == 404


def test_a_bad_value_is_shown_next_to_its_field_and_nothing_is_lost_or_saved(browser_as, session, area):
    hub = browser_as("hub", area["hub"].id)
    patient = area["hayashi"]
    page = hub.get(f"/registry/patients/{patient.id}")
    assert "リスク区分" in page.text and "理由" in page.text
    form = _form(page.text, patient) | {
        "cylinder_hours": "abc",
        "address": "千葉市中央区 1-2-3",
        "birth_date": "2999-01-01",
    }
    saved = hub.post(f"/registry/patients/{patient.id}", data=form)
    assert saved.status_code == 422
    assert field_error(saved.text, "cylinder_hours") and field_error(saved.text, "birth_date").startswith("生年月日")
    assert 'value="千葉市中央区 1-2-3"' in saved.text  # what was typed is still there
    session.refresh(patient)
    assert patient.address is None

    fixed = hub.post(
        f"/registry/patients/{patient.id}",
        data=form | {"cylinder_hours": "2", "birth_date": "1940-05-06"},
        follow_redirects=False,
    )
    assert fixed.status_code == 303
    session.refresh(patient)
    assert patient.address == "千葉市中央区 1-2-3" and patient.cylinder_hours == 2 and patient.risk_tier == "critical"


def test_one_phone_is_corrected_without_losing_the_other(browser_as, session, area):
    hub = browser_as("hub", area["hub"].id)
    patient = area["hayashi"]
    first, second = session.exec(
        select(PatientContact).where(PatientContact.patient_id == patient.id).order_by(PatientContact.position)
    ).all()
    token = csrf(hub.get(f"/registry/patients/{patient.id}").text)
    bad = hub.post(
        f"/registry/patients/{patient.id}/contacts/{first.id}",
        data={"csrf_token": token, "phone": "0123", "kind": "self"},
    )
    assert bad.status_code == 422 and "電話番号として読めません" in bad.text
    ok = hub.post(
        f"/registry/patients/{patient.id}/contacts/{first.id}",
        data={"csrf_token": token, "phone": "080-3333-4444", "kind": "self", "preferred_channel": "sms"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    session.expire_all()
    rows = session.exec(
        select(PatientContact).where(PatientContact.patient_id == patient.id).order_by(PatientContact.position)
    ).all()
    assert [(r.id, r.phone) for r in rows] == [(first.id, "+818033334444"), (second.id, "+81312345678")]
    hub.post(
        f"/registry/patients/{patient.id}/contacts",
        data={"csrf_token": token, "phone": "090-5555-6666", "kind": "family"},
    )
    hub.post(f"/registry/patients/{patient.id}/contacts/{first.id}/delete", data={"csrf_token": token})
    session.expire_all()
    rows = session.exec(
        select(PatientContact).where(PatientContact.patient_id == patient.id).order_by(PatientContact.position)
    ).all()
    assert [(r.position, r.phone) for r in rows] == [(1, "+81312345678"), (2, "+819055556666")]
    forged = hub.post(
        f"/registry/patients/{patient.id}/contacts", data={"csrf_token": "forged", "phone": "090-5555-7777"}
    )
    assert forged.status_code == 403


def test_status_change_needs_a_reason(browser_as, session, area):
    hub = browser_as("hub", area["hub"].id)
    patient = area["hayashi"]
    token = csrf(hub.get(f"/registry/patients/{patient.id}").text)
    missing = hub.post(
        f"/registry/patients/{patient.id}/status",
        data={"csrf_token": token, "status": "admitted", "status_reason": " "},
    )
    assert missing.status_code == 422 and "理由を入力" in missing.text
    done = hub.post(
        f"/registry/patients/{patient.id}/status",
        data={"csrf_token": token, "status": "admitted", "status_reason": "肺炎で入院"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    session.refresh(patient)
    assert patient.status == "admitted" and patient.status_reason == "肺炎で入院"


def test_new_patient_from_the_page(browser_as, session, area):
    hub = browser_as("hub", area["hub"].id)
    page = hub.get("/registry/patients/new")
    token = csrf(page.text)
    body = {
        "csrf_token": token,
        "name": "髙橋 一郎",
        "name_kana": "タカハシ イチロウ",
        "municipality_id": str(area["city"].id),
        "sex": "male",
        "uses_ventilator": "on",
        "ventilator_mode": "",
        "hub_id": str(area["hub"].id),
        "contact_phone": "090-1234-0000",
        "contact_kind": "self",
        "contact_preferred_channel": "sms",
    }
    refused = hub.post("/registry/patients/new", data=body | {"municipality_id": str(area["other"].id), "hub_id": ""})
    assert refused.status_code == 422 and "担当範囲外" in refused.text and 'value="髙橋 一郎"' in refused.text
    created = hub.post("/registry/patients/new", data=body, follow_redirects=False)
    assert created.status_code == 303
    patient = session.exec(select(Patient).where(Patient.name == "髙橋 一郎")).one()
    assert patient.risk_tier == "critical"
    assert "高橋" in hub.get("/registry/patients", params={"q": "高橋"}).text.replace("髙橋", "高橋")
    detail = hub.get(created.headers["location"])
    assert "侵襲的" in detail.text or "未入力" in detail.text


def test_nurse_sees_but_cannot_edit(browser_as, session, area):
    station = create_institution(session, area["city"], kind="visiting_nurse_station")
    patient = create_patient(session, area["city"], visiting_nurse_station_id=station.id)
    nurse = browser_as("nurse", station.id)
    page = nurse.get(f"/registry/patients/{patient.id}")
    assert page.status_code == 200 and "登録内容を保存" not in page.text
    assert nurse.post(f"/registry/patients/{patient.id}", data={"csrf_token": csrf(page.text)}).status_code == 403


def test_paging_keeps_the_filters_and_the_csv_link_takes_them(browser_as, session, area, monkeypatch):
    from html import unescape

    from bcp_service.registry import pages

    monkeypatch.setattr(pages, "PAGE_SIZE", 1)
    area["outside"].status = "moved"
    session.add(area["outside"])
    admin = browser_as("admin")
    first = admin.get("/registry/patients", params={"q": "はやし", "status": ""})
    assert first.text.count("<tr>\n  <td><a href") == 1
    next_query = unescape(re.search(r'href="/registry/patients\?([^"]+)">次へ', first.text).group(1))
    second = admin.get(f"/registry/patients?{next_query}")
    assert "（2 / 2 ページ）" in second.text  # the moved patient is still counted: "all" kept
    csv_query = unescape(re.search(r'href="/api/v1/exports/patients.csv\?([^"]*)"', first.text).group(1))
    assert csv_query == "q=%E3%81%AF%E3%82%84%E3%81%97"
    assert admin.get(f"/api/v1/exports/patients.csv?{csv_query}").status_code == 200
