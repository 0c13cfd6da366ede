"""Designation rules as data: a kind that may not hold a designation is refused naming the rule,
and only holders the prefecture's rule counts close a coverage gap."""

import pytest

from bcp_service.registry.coverage import find_coverage_gaps
from tests.factories import create_institution, create_municipality, create_prefecture, create_region, designate


@pytest.fixture
def prefecture(session):
    return create_prefecture(session)


@pytest.fixture
def chiba(session):
    from sqlmodel import select

    from bcp_service.models import Prefecture

    return session.exec(select(Prefecture).where(Prefecture.code == "12")).first() or create_prefecture(
        session, code="12", name="千葉県"
    )


@pytest.mark.parametrize("kind", ["fire_ems_agency", "equipment_supplier", "care_management_office"])
@pytest.mark.parametrize("designation", ["hub", "active_institution"])
def test_bodies_that_are_not_care_providers_cannot_hold_a_designation(client, session, prefecture, kind, designation):
    town = create_municipality(session, prefecture)
    region = create_region(session, prefecture, [town])
    body = {
        "name": "架空の機関",
        "kind": kind,
        "municipality_id": town.id,
        "designations": [{"region_id": region.id, "kind": designation}],
    }
    refused = client.post("/api/v1/institutions", json=body)
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"][0]
    assert detail["loc"][-1] == "designations.0.kind"
    assert f"designation_rule[全国既定:{designation}]" in detail["msg"]


def test_changing_a_holders_kind_is_checked_against_what_it_holds(client, session, prefecture):
    town = create_municipality(session, prefecture)
    region = create_region(session, prefecture, [town])
    body = {
        "name": "架空医師会",
        "kind": "medical_association",
        "municipality_id": town.id,
        "designations": [{"region_id": region.id, "kind": "hub"}],
    }
    created = client.post("/api/v1/institutions", json=body)
    assert created.status_code == 201, created.text
    patch = client.patch(f"/api/v1/institutions/{created.json()['id']}", json={"kind": "fire_ems_agency"})
    assert patch.status_code == 422 and "designation_rule" in patch.json()["detail"][0]["msg"]


def test_chiba_designates_enhanced_home_care_support_hospitals(client, session, chiba):
    town = create_municipality(session, chiba)
    region = create_region(session, chiba, [town])

    def post(kind, enhanced, designation="active_institution"):
        return client.post(
            "/api/v1/institutions",
            json={
                "name": "架空病院",
                "kind": kind,
                "enhanced": enhanced,
                "municipality_id": town.id,
                "designations": [{"region_id": region.id, "kind": designation}],
            },
        )

    refused = post("pharmacy", False)  # allowed nationally, not in Chiba
    assert (
        refused.status_code == 422
        and "designation_rule[都道府県コード12:active_institution]" in refused.json()["detail"][0]["msg"]
    )
    assert post("home_care_support_clinic", True).status_code == 201  # may share the work...
    report = find_coverage_gaps(session=session, prefecture_id=chiba.id)
    (row,) = [r for r in report.regions if r.region_id == region.id]
    assert row.missing == ["active_institution", "hub"] and len(row.not_counted) == 1  # ...but does not count
    assert post("home_care_support_hospital", True).status_code == 201
    assert post("medical_association", False, "hub").status_code == 201  # hubs: the national rule
    report = find_coverage_gaps(session=session, prefecture_id=chiba.id)
    (row,) = [r for r in report.regions if r.region_id == region.id]
    assert row.missing == [] and len(row.active_institutions) == 1


def test_municipalities_without_a_hub_inside_a_region_with_one_are_reported(session, prefecture):
    served, unserved = create_municipality(session, prefecture), create_municipality(session, prefecture)
    region = create_region(session, prefecture, [served, unserved])
    designate(session, create_institution(session, served), region, "active_institution")
    designate(session, create_institution(session, served, kind="municipal_office"), region, "hub", covers=[served])
    report = find_coverage_gaps(session=session, prefecture_id=prefecture.id)
    assert report.gaps == []
    assert report.municipalities_without_hub == [f"{unserved.code} {unserved.name}"]


def test_the_migration_wrote_the_default_rules(tmp_path):
    # A fresh database: the shared test database may have been emptied by a committing test.
    from sqlmodel import Session, select

    from bcp_service import migrations
    from bcp_service.db import make_engine
    from bcp_service.models import DesignationRule
    from bcp_service.registry.designation_rules import rows_for_migration

    engine = make_engine(f"sqlite:///{tmp_path / 'rules.sqlite3'}")
    migrations.upgrade(engine)
    keys = ("prefecture_code", "designation", "institution_kind", "enhanced_only", "counts", "source")
    with Session(engine) as session:
        stored = {tuple(getattr(r, k) for k in keys) for r in session.exec(select(DesignationRule))}
    assert stored == {tuple(row[k] for k in keys) for row in rows_for_migration()}
