from collections import Counter

from sqlalchemy import func
from sqlmodel import select

from bcp_service.db import make_session_factory
from bcp_service.demo.chiba import load_chiba, read_csv
from bcp_service.demo.synthetic import seed_patients
from bcp_service.models import (
    HubMunicipality,
    Institution,
    LocalMedicalAssociation,
    Municipality,
    Patient,
    PublicHealthCenterDistrict,
    SecondaryMedicalArea,
)
from bcp_service.registry.coverage import find_coverage_gaps
from bcp_service.registry.schemas import check_digit
from tests.dbutil import wipe_database


def count(session, model, *where):
    return session.exec(select(func.count()).select_from(model).where(*where)).one()


def test_chiba_structure_matches_the_source(session):
    structure = load_chiba(session)
    assert count(session, SecondaryMedicalArea) >= 9
    areas = session.exec(
        select(SecondaryMedicalArea).where(SecondaryMedicalArea.prefecture_id == structure.prefecture_id)
    ).all()
    assert len(areas) == 9
    assert (
        count(session, PublicHealthCenterDistrict, PublicHealthCenterDistrict.prefecture_id == structure.prefecture_id)
        == 16
    )
    assert (
        count(session, LocalMedicalAssociation, LocalMedicalAssociation.prefecture_id == structure.prefecture_id) == 22
    )
    municipalities = session.exec(
        select(Municipality).where(Municipality.prefecture_id == structure.prefecture_id)
    ).all()
    assert len(municipalities) == 54
    assert all(check_digit(m.code[:5]) == m.code[5] for m in municipalities)
    assert {m.membership_source for m in municipalities} == {"demo_assigned"}

    mine = [i for i in session.exec(select(Institution)) if i.municipality_id in structure.municipality_ids.values()]
    kinds = Counter((i.kind, i.enhanced) for i in mine)
    assert kinds[("home_care_support_hospital", True)] == 30
    assert kinds[("home_care_support_hospital", True)] + kinds[("home_care_support_hospital", False)] == 63
    assert kinds[("home_care_support_clinic", True)] == 236
    assert kinds[("backup_hospital", False)] == 24
    assert kinds[("visiting_nurse_station", True)] == 35
    assert all(i.name.startswith("【デモ】") for i in mine)

    hub_municipalities = {link.municipality_id for link in session.exec(select(HubMunicipality))}
    assert len(hub_municipalities & set(structure.municipality_ids.values())) == 43
    by_area = Counter()
    for municipality in municipalities:
        if municipality.id in hub_municipalities:
            by_area[municipality.secondary_medical_area_id] += 1
    names = {a.id: a.name for a in areas}
    expected = {
        row["secondary_medical_area"]: int(row["municipalities_with_hub"])
        for row in read_csv("chiba_secondary_medical_areas.csv")
    }
    assert {names[k]: v for k, v in by_area.items()} == expected

    # Chiba's rule: only enhanced home-care support hospitals count as active institutions, so the
    # eight regions without one are gaps (as in Chiba's material), enhanced clinics notwithstanding.
    report = find_coverage_gaps(session=session, prefecture_id=structure.prefecture_id)
    gaps = report.gaps
    assert sorted((g.region_name, tuple(g.missing)) for g in gaps) == sorted(
        [
            ("八千代市在宅医療圏", ("active_institution", "hub")),
            ("鎌ヶ谷市在宅医療圏", ("active_institution", "hub")),
            ("浦安市在宅医療圏", ("active_institution", "hub")),
            ("習志野市在宅医療圏", ("active_institution",)),
            ("流山市在宅医療圏", ("active_institution",)),
            ("柏市在宅医療圏", ("active_institution",)),
            ("野田市在宅医療圏", ("active_institution",)),
            ("夷隅在宅医療圏", ("active_institution",)),
        ]
    )
    # 54 - 43 municipalities have no hub: three whole regions and eight inside regions that have one.
    assert len(report.municipalities_without_hub) == 11
    assert load_chiba(session).prefecture_id == structure.prefecture_id


def test_synthetic_patients_are_seeded_and_realistic(engine):
    # seed_patients writes through its own connections, so this test commits and cleans up.
    factory = make_session_factory(engine)
    with factory() as own:
        structure = load_chiba(own)
        own.commit()
    try:
        inserted = seed_patients(engine, 2000, seed=7, prefecture_id=structure.prefecture_id)
        assert inserted == 2000
        with factory() as own:
            rows = own.exec(select(Patient).order_by(Patient.id.desc()).limit(2000)).all()
            oxygen = sum(p.uses_oxygen for p in rows)
            ventilator = sum(p.uses_ventilator for p in rows)
            assert oxygen > 3 * ventilator > 0
            assert {p.risk_tier for p in rows} == {"critical", "high", "standard"}
            assert all(p.municipality_id in structure.municipality_ids.values() for p in rows)
    finally:
        wipe_database(engine)
