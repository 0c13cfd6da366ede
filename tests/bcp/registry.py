"""A small, fully filled registry around one region, for the builder and API tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session

from bcp_service.models import HomeCareRegion, Institution, InstitutionContact, Municipality, Patient, Prefecture
from tests.factories import (
    create_institution,
    create_municipality,
    create_patient,
    create_prefecture,
    create_region,
    designate,
)


@dataclass
class Area:
    prefecture: Prefecture
    town: Municipality
    other_town: Municipality
    region: HomeCareRegion
    hub: Institution
    active: Institution
    clinic: Institution
    support_clinic: Institution
    station: Institution
    backup: Institution
    supplier: Institution
    public_bodies: list[Institution] = field(default_factory=list)
    patients: dict[str, Patient] = field(default_factory=dict)


def add_staff(session: Session, institution: Institution, count: int = 3) -> None:
    roles = ["院長（医師）", "看護師", "事務職員", "看護師", "事務職員"]
    for position in range(1, count + 1):
        session.add(
            InstitutionContact(
                institution_id=institution.id,
                position=position,
                name=f"職員{position} {institution.id}",
                role=roles[position - 1],
                phone=f"+8190{institution.id % 10000:04d}{position:04d}",
            )
        )
    session.flush()


def build_area(session: Session) -> Area:
    prefecture = create_prefecture(session)
    town = create_municipality(session, prefecture, name="架空市")
    other_town = create_municipality(session, prefecture, name="架空町")
    region = create_region(session, prefecture, [town, other_town], name="架空北部在宅医療圏")
    phone = iter(f"+81431{n:06d}" for n in range(100000, 999999))

    def institution(kind: str, name: str, **extra) -> Institution:
        return create_institution(
            session, town, kind=kind, name=name, phone=next(phone), address="架空市本町1-2-3", **extra
        )

    hub = institution("medical_association", "架空市医師会 在宅医療連携センター")
    designate(session, hub, region, "hub", covers=[town, other_town])
    active = institution("home_care_support_hospital", "架空在宅ケア病院", enhanced=True, open_24h=True)
    designate(session, active, region, "active_institution")
    area = Area(
        prefecture=prefecture,
        town=town,
        other_town=other_town,
        region=region,
        hub=hub,
        active=active,
        clinic=institution("clinic", "架空みなみクリニック"),
        support_clinic=institution("home_care_support_clinic", "架空きた在宅クリニック", enhanced=True, open_24h=True),
        station=institution("visiting_nurse_station", "架空訪問看護ステーション", open_24h=True),
        backup=institution("backup_hospital", "架空中央病院"),
        supplier=institution("equipment_supplier", "架空メディカル"),
    )
    area.public_bodies = [
        institution("municipal_office", "架空市役所"),
        institution("public_health_center", "架空保健所"),
        institution("fire_ems_agency", "架空市消防本部"),
        institution("pharmacy", "架空さくら薬局"),
    ]
    for provider in (active, area.clinic, area.support_clinic, area.station):
        add_staff(session, provider)
    full = {
        "backup_hospital_id": area.backup.id,
        "backup_hospital_preregistered": True,
        "evacuation_destination": "架空中央病院（入院）",
        "transport_plan_notes": "119で救急搬送。判断は主治医",
        "equipment_supplier": "架空メディカル",
        "max_hours_without_device": 0.0,
        "device_watts": 120,
        "generator_access": False,
        "car_power_access": True,
        "planned_stay": "home",
    }
    ventilator = {
        "uses_oxygen": False,
        "oxygen_source": None,
        "cylinder_hours": None,
        "uses_ventilator": True,
        "ventilator_mode": "invasive",
        "ventilator_model": "架空ベント V60",
        "internal_battery_hours": 3.0,
        "external_battery_hours": 8.0,
        "uses_suction": True,
    }
    oxygen = {"oxygen_flow_lpm": 2.0, "cylinder_hours": 10.0, "max_hours_without_device": 12.0}
    for owner in ("clinic", "support_clinic", "active"):
        doctor = getattr(area, owner)
        area.patients[f"{owner}_vent"] = create_patient(
            session,
            town,
            active_institution_id=doctor.id,
            visiting_nurse_station_id=area.station.id,
            **full,
            **ventilator,
        )
        area.patients[f"{owner}_oxygen"] = create_patient(
            session,
            other_town,
            active_institution_id=doctor.id,
            **(full | oxygen),
        )
    # A ventilator user with no doctor on record in the area: only the active institution's area list has them.
    area.patients["unlinked_vent"] = create_patient(session, other_town, **ventilator)
    return area
