"""Regions redrawn and a patient moved, in Chromium through the pages only (issue 27, items 1 and 2):
a prefecture officer moves a municipality to another home-care region and reads the history; a hub
moves a patient to another municipality, sees who will lose and gain sight before saving, and loses
sight once saved. Each page must fit 360 px and 1366 px."""

from __future__ import annotations

from sqlmodel import select

from bcp_service.models import HomeCareRegionMunicipality, Patient
from tests.browser.pages import PHONE, log_in, page_width
from tests.factories import (
    create_institution,
    create_municipality,
    create_patient,
    create_prefecture,
    create_region,
    create_user,
    designate,
)

DESK = {"viewport": {"width": 1366, "height": 900}, "locale": "ja-JP"}


def _map(committed):
    prefecture = create_prefecture(committed)
    north = create_municipality(committed, prefecture, name="北浜町")
    east = create_municipality(committed, prefecture, name="東浜町")
    south = create_municipality(committed, prefecture, name="南浜町")
    region_a = create_region(committed, prefecture, [north, east], name="北浜圏域")
    region_b = create_region(committed, prefecture, [south], name="南浜圏域")
    hub_a = create_institution(committed, north, kind="medical_association", name="北浜医師会")
    hub_b = create_institution(committed, south, kind="medical_association", name="南浜医師会")
    designate(committed, hub_a, region_a, "hub")
    designate(committed, hub_b, region_b, "hub")
    return prefecture, (north, east, south), (region_a, region_b), (hub_a, hub_b)


def test_prefecture_officer_moves_a_municipality_to_another_region(browser, live_server, committed):
    prefecture, (_north, east, south), (_region_a, region_b), (hub_a, hub_b) = _map(committed)
    patient = create_patient(committed, east, hub_id=hub_a.id, name="東浜 花子")
    officer = create_user(committed, "prefecture", prefecture.id)
    committed.commit()

    for options in (PHONE, DESK):
        context = browser.new_context(**options)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        log_in(page, live_server.url, officer.username, "/")
        page.click("text=在宅医療圏の線引き")
        assert "東浜町" in page.locator("#region-map").inner_text()
        assert page_width(page) <= options["viewport"]["width"], page.url
        if options is PHONE:
            page.select_option("#move-municipality_id", label="東浜町")
            page.select_option("#move-to_region_id", label="南浜圏域")
            page.click("#form-move button[type=submit]")
            notice = page.locator("#result").inner_text()
            assert "東浜町を南浜圏域へ移す: 適用しました" in notice and "北浜医師会→南浜医師会 1名" in notice
            rows = page.locator("#region-map tbody tr")
            south_row = rows.filter(has_text="南浜圏域").inner_text()
            assert "東浜町" in south_row and "東浜町" not in rows.filter(has_text="北浜圏域").inner_text()
        page.click("text=変更の履歴")
        assert "東浜町を南浜圏域へ移す" in page.locator("#region-history").inner_text()
        assert page_width(page) <= options["viewport"]["width"], page.url
        assert errors == []
        context.close()

    committed.rollback()  # a fresh snapshot: the server committed in its own sessions
    members = committed.exec(
        select(HomeCareRegionMunicipality.municipality_id).where(HomeCareRegionMunicipality.region_id == region_b.id)
    ).all()
    assert sorted(members) == sorted([south.id, east.id])
    assert committed.exec(select(Patient.hub_id).where(Patient.id == patient.id)).one() == hub_b.id


def test_hub_moves_a_patient_and_sees_who_loses_and_gains_sight(browser, live_server, committed):
    _prefecture, (north, _east, south), _regions, (hub_a, hub_b) = _map(committed)
    patient = create_patient(committed, north, hub_id=hub_a.id, name="転居 次郎")
    user = create_user(committed, "hub", hub_a.id)
    committed.commit()

    context = browser.new_context(**PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server.url, user.username, "/")
    page.goto(f"{live_server.url}/registry/patients/{patient.id}")
    page.select_option("#f-municipality_id", label="南浜町")
    assert page.locator("#f-hub_id").input_value() == ""  # 「自動」: the hub follows the municipality
    page.click("button:has-text('登録内容を保存')")
    preview = page.locator("#sight-preview").inner_text()
    assert "まだ保存していません" in preview
    assert "見られなくなる: 北浜医師会（連携拠点）" in preview and "新たに見られる: 南浜医師会（連携拠点）" in preview
    assert page_width(page) <= 360
    committed.rollback()
    assert committed.exec(select(Patient.municipality_id).where(Patient.id == patient.id)).one() == north.id  # not yet
    page.click("#confirm-save")
    assert "南浜医師会" in page.locator("#handed-over").inner_text()
    committed.rollback()
    saved = committed.exec(select(Patient.municipality_id, Patient.hub_id).where(Patient.id == patient.id)).one()
    assert tuple(saved) == (south.id, hub_b.id)
    page.goto(f"{live_server.url}/registry/patients/{patient.id}")
    assert "表示できません" in page.content()  # the old hub lost sight at once
    assert errors == []
    context.close()
