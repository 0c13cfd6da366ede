"""Regions redrawn with an effective date, and hubs that follow the map (issues 27.1 and 27.2)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from bcp_service.auth.principal import Principal, patient_scope
from bcp_service.auth.roles import Role
from bcp_service.errors import FieldError
from bcp_service.models import (
    AuditEvent,
    Designation,
    HomeCareRegion,
    HomeCareRegionMunicipality,
    Patient,
    RegionChange,
    RoundSchedule,
)
from bcp_service.models.base import utcnow
from bcp_service.registry import areas, region_changes
from bcp_service.registry.coverage import find_coverage_gaps
from tests.factories import (
    create_institution,
    create_municipality,
    create_patient,
    create_prefecture,
    create_region,
    create_user,
    designate,
)


def _officer(session, prefecture) -> Principal:
    user = create_user(session, "prefecture", prefecture.id)
    return Principal(user.id, user.username, Role.prefecture, prefecture.id)


def _map(session):
    """Two regions of one prefecture, each with its hub (by region designation) and a clinic."""
    prefecture = create_prefecture(session)
    north, south = (
        create_municipality(session, prefecture, name="北町"),
        create_municipality(session, prefecture, name="南町"),
    )
    east = create_municipality(session, prefecture, name="東町")
    region_a = create_region(session, prefecture, [north, east], name="A圏域")
    region_b = create_region(session, prefecture, [south], name="B圏域")
    hub_a = create_institution(session, north, kind="medical_association", name="A医師会")
    hub_b = create_institution(session, south, kind="medical_association", name="B医師会")
    designate(session, hub_a, region_a, "hub")
    designate(session, hub_b, region_b, "hub")
    clinic = create_institution(session, north, name="A在支病", kind="home_care_support_hospital", enhanced=True)
    designate(session, clinic, region_a, "active_institution")
    return prefecture, (north, south, east), (region_a, region_b), (hub_a, hub_b)


def _sees(session, hub_id: int, patient_id: int) -> bool:
    principal = Principal(0, "hub", Role.hub, hub_id)
    return (
        session.exec(select(Patient.id).where(Patient.id == patient_id, *patient_scope(principal))).first() is not None
    )


def test_moving_a_municipality_applies_today_and_the_hubs_follow(session: Session):
    prefecture, (north, south, east), (region_a, region_b), (hub_a, hub_b) = _map(session)
    follows = create_patient(session, east, hub_id=hub_a.id)
    pinned = create_patient(session, east, hub_id=hub_a.id, hub_pinned=True)
    stays = create_patient(session, north, hub_id=hub_a.id)
    officer = _officer(session, prefecture)

    change = region_changes.request_change(
        session=session,
        principal=officer,
        prefecture_id=prefecture.id,
        kind="move",
        params={"municipality_id": east.id, "to_region_id": region_b.id},
        effective_on=None,
    )

    assert change.status == "applied" and change.summary == "東町をB圏域へ移す"
    assert areas.region_member_ids(session, region_a.id) == [north.id]
    assert areas.region_member_ids(session, region_b.id) == sorted([south.id, east.id])
    for p in (follows, pinned, stays):
        session.refresh(p)
    assert (follows.hub_id, pinned.hub_id, stays.hub_id) == (hub_b.id, hub_a.id, hub_a.id)
    assert "東町 A医師会→B医師会 1名" in change.outcome
    # The old hub loses sight at once (the pinned patient stays its own); the new one gains it.
    assert not _sees(session, hub_a.id, follows.id) and _sees(session, hub_b.id, follows.id)
    assert _sees(session, hub_a.id, pinned.id)
    actions = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]
    assert (
        actions.count("region.update") == 2 and "region.change_requested" in actions and "patient.hub_follow" in actions
    )
    update = session.exec(
        select(AuditEvent).where(AuditEvent.action == "region.update").order_by(AuditEvent.id)
    ).first()
    assert update.changes == [{"field": "municipality_ids", "old": sorted([north.id, east.id]), "new": [north.id]}]


def test_a_change_for_a_later_date_waits_for_the_scheduler(session: Session):
    prefecture, (_north, _south, _east), (region_a, _region_b), _hubs = _map(session)
    officer = _officer(session, prefecture)
    tomorrow = region_changes.today() + timedelta(days=1)
    change = region_changes.request_change(
        session=session,
        principal=officer,
        prefecture_id=prefecture.id,
        kind="rename",
        params={"region_id": region_a.id, "name": "新A圏域"},
        effective_on=tomorrow,
    )
    assert change.status == "scheduled" and session.get(HomeCareRegion, region_a.id).name == "A圏域"
    session.flush()

    def factory() -> Session:
        return Session(bind=session.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False)

    assert region_changes.apply_due_changes(factory, now=utcnow()) == 0  # not yet
    later = utcnow() + timedelta(days=1, hours=1)
    assert region_changes.apply_due_changes(factory, now=later) == 1
    assert region_changes.apply_due_changes(factory, now=later) == 0  # safe to run twice
    session.expire_all()
    assert session.get(HomeCareRegion, region_a.id).name == "新A圏域"
    assert session.get(RegionChange, change.id).status == "applied"


def test_a_scheduled_change_the_map_no_longer_takes_fails_with_the_reason(session: Session):
    prefecture, (_north, _south, east), (_region_a, region_b), _hubs = _map(session)
    officer = _officer(session, prefecture)
    change = region_changes.request_change(
        session=session,
        principal=officer,
        prefecture_id=prefecture.id,
        kind="move",
        params={"municipality_id": east.id, "to_region_id": region_b.id},
        effective_on=region_changes.today() + timedelta(days=2),
    )
    session.add(HomeCareRegionMunicipality(region_id=region_b.id, municipality_id=east.id))  # done by hand meanwhile
    session.flush()

    def factory() -> Session:
        return Session(bind=session.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False)

    assert region_changes.apply_due_changes(factory, now=utcnow() + timedelta(days=3)) == 0
    session.expire_all()
    failed = session.get(RegionChange, change.id)
    assert failed.status == "failed" and "すでにB圏域に属しています" in failed.outcome


def test_merge_moves_members_and_designations_and_the_gap_follows(session: Session):
    prefecture, (north, south, east), (region_a, region_b), (hub_a, hub_b) = _map(session)
    officer = _officer(session, prefecture)
    assert [g.region_name for g in find_coverage_gaps(session=session, prefecture_id=prefecture.id).gaps] == ["B圏域"]
    region_changes.request_change(
        session=session,
        principal=officer,
        prefecture_id=prefecture.id,
        kind="merge",
        params={"region_id": region_a.id, "into_region_id": region_b.id},
        effective_on=None,
    )
    assert session.get(HomeCareRegion, region_a.id) is None
    assert areas.region_member_ids(session, region_b.id) == sorted([north.id, south.id, east.id])
    assert {
        d.institution_id for d in session.exec(select(Designation).where(Designation.region_id == region_b.id))
    } >= {hub_a.id, hub_b.id}
    assert find_coverage_gaps(session=session, prefecture_id=prefecture.id).gaps == []


def test_merge_refused_while_a_schedule_targets_the_region(session: Session):
    prefecture, _towns, (region_a, region_b), _hubs = _map(session)
    session.add(
        RoundSchedule(
            name="毎月の訓練",
            interval_minutes=600,
            target={"region_ids": [region_a.id]},
            drill=True,
            created_by_name="officer",
            created_by_role="prefecture",
        )
    )
    session.flush()
    with pytest.raises(FieldError, match="毎月の訓練"):
        region_changes.request_change(
            session=session,
            principal=_officer(session, prefecture),
            prefecture_id=prefecture.id,
            kind="merge",
            params={"region_id": region_a.id, "into_region_id": region_b.id},
            effective_on=None,
        )


def test_split_and_create_and_their_refusals(session: Session):
    prefecture, (north, south, east), (region_a, _region_b), _hubs = _map(session)
    officer = _officer(session, prefecture)
    with pytest.raises(FieldError, match="すべての市町村"):
        region_changes.check(
            session,
            prefecture.id,
            "split",
            {"region_id": region_a.id, "name": "C", "municipality_ids": [north.id, east.id]},
        )
    with pytest.raises(FieldError, match="属する市町村から"):
        region_changes.check(
            session, prefecture.id, "split", {"region_id": region_a.id, "name": "C", "municipality_ids": [south.id]}
        )
    with pytest.raises(FieldError, match="同じ名前"):
        region_changes.check(session, prefecture.id, "create", {"name": "B圏域"})
    region_changes.request_change(
        session=session,
        principal=officer,
        prefecture_id=prefecture.id,
        kind="split",
        params={"region_id": region_a.id, "name": "C圏域", "municipality_ids": [east.id]},
        effective_on=None,
    )
    c = session.exec(select(HomeCareRegion).where(HomeCareRegion.name == "C圏域")).one()
    assert areas.region_member_ids(session, c.id) == [east.id] and areas.region_member_ids(session, region_a.id) == [
        north.id
    ]
    gaps = {g.region_name: g.missing for g in find_coverage_gaps(session=session, prefecture_id=prefecture.id).gaps}
    assert set(gaps["C圏域"]) == {"active_institution", "hub"}
    with pytest.raises(FieldError, match="過去"):
        region_changes.request_change(
            session=session,
            principal=officer,
            prefecture_id=prefecture.id,
            kind="create",
            params={"name": "D"},
            effective_on=region_changes.today() - timedelta(days=1),
        )


def test_another_prefectures_rows_are_not_found(session: Session):
    prefecture, (north, _south, _east), (region_a, _b), _hubs = _map(session)
    other = create_prefecture(session)
    theirs = create_municipality(session, other)
    their_region = create_region(session, other, [theirs])
    for kind, params in (
        ("move", {"municipality_id": theirs.id, "to_region_id": region_a.id}),
        ("move", {"municipality_id": north.id, "to_region_id": their_region.id}),
        ("rename", {"region_id": their_region.id, "name": "越境"}),
        ("create", {"name": "越境", "municipality_ids": [theirs.id]}),
    ):
        with pytest.raises(FieldError, match="見つかりません"):
            region_changes.check(session, prefecture.id, kind, params)


def test_patient_hub_follows_a_move_unless_pinned(client, session: Session):
    _prefecture, (north, south, _east), (_region_a, _region_b), (hub_a, hub_b) = _map(session)
    created = client.post("/api/v1/patients", json={"name": "転居 花子", "municipality_id": north.id})
    assert created.status_code == 201, created.text
    assert created.json()["hub_id"] == hub_a.id and created.json()["hub_pinned"] is False
    pid = created.json()["id"]
    moved = client.patch(f"/api/v1/patients/{pid}", json={"municipality_id": south.id})
    assert moved.status_code == 200 and moved.json()["hub_id"] == hub_b.id
    event = session.exec(
        select(AuditEvent).where(AuditEvent.action == "patient.update").order_by(AuditEvent.id.desc())
    ).first()
    assert {"field": "hub_id", "old": hub_a.id, "new": hub_b.id} in event.changes
    pinned = client.patch(f"/api/v1/patients/{pid}", json={"hub_pinned": True})
    assert pinned.status_code == 200 and pinned.json()["hub_id"] == hub_b.id
    refused = client.patch(f"/api/v1/patients/{pid}", json={"municipality_id": north.id})
    assert refused.status_code == 422 and "連携拠点" in refused.text
    wrong = client.post("/api/v1/patients", json={"name": "誤り 太郎", "municipality_id": north.id, "hub_id": hub_b.id})
    assert wrong.status_code == 422 and "連携拠点" in wrong.text


def test_a_redraw_through_the_api_moves_the_hubs_too(client, session: Session):
    _prefecture, (north, south, east), (region_a, region_b), (hub_a, hub_b) = _map(session)
    patient = create_patient(session, east, hub_id=hub_a.id)
    assert (
        client.patch(f"/api/v1/regions/{region_b.id}", json={"municipality_ids": [south.id, east.id]}).status_code
        == 200
    )
    session.refresh(patient)
    assert patient.hub_id == hub_a.id  # still covered by its hub (east is in both regions for now)
    assert client.patch(f"/api/v1/regions/{region_a.id}", json={"municipality_ids": [north.id]}).status_code == 200
    session.refresh(patient)
    assert patient.hub_id == hub_b.id
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "patient.hub_follow")).first() is not None
