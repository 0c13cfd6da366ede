"""Regions redrawn on pages and a patient's move previewed before saving (issues 27.1 and 27.2)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bcp_service.models import AuditEvent, HomeCareRegion, Patient, RegionChange
from bcp_service.registry import areas, region_changes
from bcp_service.registry.page_forms import patient_values
from tests.page_clients import browser_as, csrf  # noqa: F401  (fixture)
from tests.registry.test_region_changes import _map


def test_prefecture_moves_a_municipality_on_the_page_and_reads_the_history(browser_as, session):
    prefecture, (_north, south, east), (region_a, region_b), _hubs = _map(session)
    officer = browser_as("prefecture", prefecture.id)
    home = officer.get("/")
    assert "/registry/regions/redraw" in home.text
    form = officer.get("/registry/regions/redraw")
    assert form.status_code == 200 and "東町" in form.text and "A圏域" in form.text
    token = csrf(form.text)
    missing = officer.post(
        "/registry/regions/redraw", data={"csrf_token": token, "kind": "move", "municipality_id": str(east.id)}
    )
    assert missing.status_code == 422 and "在宅医療圏が見つかりません" in missing.text
    done = officer.post(
        "/registry/regions/redraw",
        follow_redirects=False,
        data={
            "csrf_token": token,
            "kind": "move",
            "municipality_id": str(east.id),
            "to_region_id": str(region_b.id),
            "effective_on": region_changes.today().isoformat().replace("-", "/"),
        },
    )
    assert done.status_code == 303
    assert areas.region_member_ids(session, region_b.id) == sorted([south.id, east.id])
    shown = officer.get(done.headers["location"])
    assert "東町をB圏域へ移す: 適用しました" in shown.text
    later = (region_changes.today() + timedelta(days=10)).isoformat()
    scheduled = officer.post(
        "/registry/regions/redraw",
        follow_redirects=False,
        data={
            "csrf_token": token,
            "kind": "rename",
            "region_id": str(region_a.id),
            "name": "北部圏域",
            "effective_on": later,
        },
    )
    assert scheduled.status_code == 303 and session.get(HomeCareRegion, region_a.id).name == "A圏域"
    history = officer.get("/registry/regions/history")
    assert history.status_code == 200 and "東町をB圏域へ移す" in history.text and "予定" in history.text
    change = session.exec(select(RegionChange).where(RegionChange.kind == "rename")).one()
    cancelled = officer.post(
        f"/registry/regions/changes/{change.id}/cancel", data={"csrf_token": token}, follow_redirects=False
    )
    assert cancelled.status_code == 303 and session.get(RegionChange, change.id).status == "cancelled"


def test_only_prefecture_and_admin_redraw(browser_as, session):
    _prefecture, _towns, _regions, (hub_a, _hub_b) = _map(session)
    hub = browser_as("hub", hub_a.id)
    assert hub.get("/registry/regions/redraw").status_code == 403
    assert hub.get("/registry/regions/history").status_code == 403
    admin = browser_as("admin")
    assert admin.get("/registry/regions/redraw").status_code == 200


def test_hub_moving_a_patient_sees_who_loses_and_gains_sight_before_saving(browser_as, session):
    _prefecture, (north, south, _east), _regions, (hub_a, hub_b) = _map(session)
    from tests.factories import create_patient

    patient = create_patient(session, north, hub_id=hub_a.id, name="転居 一郎")
    hub = browser_as("hub", hub_a.id)
    page = hub.get(f"/registry/patients/{patient.id}")
    assert 'value="" selected>自動（市町村を担当する拠点）' in page.text
    body = {"csrf_token": csrf(page.text), **patient_values(patient), "municipality_id": str(south.id), "hub_id": ""}
    preview = hub.post(f"/registry/patients/{patient.id}", data=body)
    assert preview.status_code == 200 and "まだ保存していません" in preview.text
    assert (
        "見られなくなる: <strong>A医師会（連携拠点）" in preview.text
        and "新たに見られる: <strong>B医師会（連携拠点）" in preview.text
    )
    session.refresh(patient)
    assert (patient.municipality_id, patient.hub_id) == (north.id, hub_a.id)  # nothing saved yet
    saved = hub.post(f"/registry/patients/{patient.id}", data=body | {"confirmed": "1"})
    assert saved.status_code == 200 and "担当範囲から外れました" in saved.text and "B医師会" in saved.text
    session.refresh(patient)
    assert (patient.municipality_id, patient.hub_id, patient.hub_pinned) == (south.id, hub_b.id, False)
    assert hub.get(f"/registry/patients/{patient.id}").status_code == 404  # the old hub lost sight at once
    event = session.exec(
        select(AuditEvent).where(AuditEvent.action == "patient.update").order_by(AuditEvent.id.desc())
    ).first()
    assert {"field": "hub_id", "old": hub_a.id, "new": hub_b.id} in event.changes


def test_a_hub_chosen_by_hand_is_pinned_and_an_edit_that_changes_no_sight_saves_at_once(browser_as, session):
    prefecture, (north, _south, _east), _regions, (hub_a, _hub_b) = _map(session)
    from tests.factories import create_patient

    patient = create_patient(session, north, hub_id=hub_a.id)
    officer = browser_as("prefecture", prefecture.id)
    page = officer.get(f"/registry/patients/{patient.id}")
    body = {"csrf_token": csrf(page.text), **patient_values(patient), "hub_id": str(hub_a.id), "cylinder_hours": "5"}
    saved = officer.post(f"/registry/patients/{patient.id}", data=body, follow_redirects=False)
    assert saved.status_code == 303
    assert session.exec(select(Patient.hub_pinned).where(Patient.id == patient.id)).one() is True


def test_a_redraw_through_the_api_joins_the_history(browser_as, client_as, session):
    prefecture, (_north, south, east), (_region_a, region_b), _hubs = _map(session)
    api = client_as("prefecture", prefecture.id)
    moved = api.patch(f"/api/v1/regions/{region_b.id}", json={"municipality_ids": [south.id, east.id]})
    assert moved.status_code == 200, moved.text
    created = api.post(
        "/api/v1/regions", json={"prefecture_id": prefecture.id, "name": "C圏域", "municipality_ids": []}
    )
    assert created.status_code == 201, created.text
    rows = session.exec(select(RegionChange).where(RegionChange.kind == "api").order_by(RegionChange.id)).all()
    assert [(r.status, r.prefecture_id) for r in rows] == [("applied", prefecture.id)] * 2
    assert "加えた市町村: 東町" in rows[0].summary and "C圏域" in rows[1].summary
    history = browser_as("prefecture", prefecture.id).get("/registry/regions/history").text
    assert "API での変更" in history and "加えた市町村: 東町" in history
