"""Institutions, designations and regions on pages: designations change only by admin or own prefecture."""

from __future__ import annotations

from sqlmodel import select

from bcp_service.models import Designation
from tests.factories import create_institution, create_municipality, create_prefecture, create_region, designate
from tests.page_clients import browser_as, csrf  # noqa: F401  (fixture)


def _area(session):
    prefecture = create_prefecture(session)
    city = create_municipality(session, prefecture, name="架空市")
    region = create_region(session, prefecture, [city], name="架空圏域")
    clinic = create_institution(session, city, name="架空クリニック")
    hub = create_institution(session, city, kind="medical_association", name="架空医師会")
    designate(session, hub, region, "hub", covers=[city])
    return prefecture, city, region, clinic, hub


def test_regions_page_shows_the_gap_and_the_prefecture_closes_it(browser_as, session):
    prefecture, _city, region, clinic, _hub = _area(session)
    officer = browser_as("prefecture", prefecture.id)
    regions = officer.get("/registry/regions")
    assert regions.status_code == 200 and "架空圏域" in regions.text and "積極的役割を担う医療機関なし" in regions.text
    page = officer.get(f"/registry/institutions/{clinic.id}")
    assert "指定を追加" in page.text
    done = officer.post(
        f"/registry/institutions/{clinic.id}/designations",
        data={"csrf_token": csrf(page.text), "region_id": str(region.id), "kind": "active_institution"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert "なし</span>" not in officer.get("/registry/regions").text
    listing = officer.get("/registry/institutions", params={"designation": "active_institution"})
    assert "架空クリニック" in listing.text and "架空医師会" not in listing.text


def test_hub_sees_designations_but_cannot_change_them(browser_as, session):
    _prefecture, _city, region, clinic, hub = _area(session)
    hub_user = browser_as("hub", hub.id)
    page = hub_user.get(f"/registry/institutions/{hub.id}")
    assert page.status_code == 200 and "連携の拠点" in page.text and "指定を追加" not in page.text
    refused = hub_user.post(
        f"/registry/institutions/{clinic.id}/designations",
        data={"csrf_token": csrf(page.text), "region_id": str(region.id), "kind": "hub"},
    )
    assert refused.status_code == 403


def test_another_prefecture_cannot_designate_here(browser_as, session):
    _prefecture, _city, region, clinic, _hub = _area(session)
    other = browser_as("prefecture", create_prefecture(session).id)
    page = other.get(f"/registry/institutions/{clinic.id}")
    refused = other.post(
        f"/registry/institutions/{clinic.id}/designations",
        data={"csrf_token": csrf(page.text), "region_id": str(region.id), "kind": "hub"},
    )
    # Another prefecture's institution is outside the officer's scope: not found, and nothing written.
    assert refused.status_code == 404
    assert session.exec(select(Designation).where(Designation.institution_id == clinic.id)).all() == []


def test_institution_edits_its_own_record_with_errors_next_to_the_field(browser_as, session):
    _prefecture, _city, _region, clinic, hub = _area(session)
    own = browser_as("institution", clinic.id)
    page = own.get(f"/registry/institutions/{clinic.id}")
    assert "登録内容を直す" in page.text
    body = {
        "csrf_token": csrf(page.text),
        "name": "架空クリニック（新）",
        "kind": "home_care_support_clinic",
        "enhanced": "on",
        "phone": "12",
        "address": "架空市1-1",
    }
    bad = own.post(f"/registry/institutions/{clinic.id}", data=body)
    assert bad.status_code == 422 and "電話番号として読めません" in bad.text and 'value="架空市1-1"' in bad.text
    good = own.post(
        f"/registry/institutions/{clinic.id}", data=body | {"phone": "043-222-3333"}, follow_redirects=False
    )
    assert good.status_code == 303
    session.refresh(clinic)
    assert (clinic.name, clinic.enhanced, clinic.phone) == ("架空クリニック（新）", True, "+81432223333")
    other = own.get(f"/registry/institutions/{hub.id}")
    assert "登録内容を直す" not in other.text
    assert own.post(f"/registry/institutions/{hub.id}", data=body | {"phone": ""}).status_code == 404


def test_institution_sets_its_on_call_phone_on_its_page(browser_as, session):
    """oncall (issue 25.4): edited by those who may edit the institution, Japanese numbers only."""
    _prefecture, _city, _region, clinic, hub = _area(session)
    own = browser_as("institution", clinic.id)
    page = own.get(f"/registry/institutions/{clinic.id}")
    assert "当番電話" in page.text and 'name="oncall_phone"' in page.text
    body = {"csrf_token": csrf(page.text), "name": clinic.name, "kind": clinic.kind, "oncall_phone": "+44 20 7946 0958"}
    bad = own.post(f"/registry/institutions/{clinic.id}", data=body)
    assert bad.status_code == 422 and "日本の電話番号を入れてください" in bad.text
    good = own.post(
        f"/registry/institutions/{clinic.id}", data=body | {"oncall_phone": "080-2222-3333"}, follow_redirects=False
    )
    assert good.status_code == 303
    session.refresh(clinic)
    assert clinic.oncall_phone == "+818022223333"
    assert "+818022223333" in own.get(f"/registry/institutions/{clinic.id}").text
    assert (
        own.post(f"/registry/institutions/{hub.id}", data=body | {"oncall_phone": "080-2222-3333"}).status_code == 404
    )
