"""Enumerations shared by tables, schemas and services.

Tables store these as plain strings (no native database enums) so that adding a value never
needs a type migration; schemas validate them.
"""

from __future__ import annotations

from enum import StrEnum


class InstitutionKind(StrEnum):
    home_care_support_clinic = "home_care_support_clinic"  # 在宅療養支援診療所 (在支診)
    home_care_support_hospital = "home_care_support_hospital"  # 在宅療養支援病院 (在支病)
    clinic = "clinic"
    hospital = "hospital"
    clinic_with_beds = "clinic_with_beds"  # 有床診療所
    backup_hospital = "backup_hospital"  # 在宅療養後方支援病院
    visiting_nurse_station = "visiting_nurse_station"  # 訪問看護ステーション
    pharmacy = "pharmacy"
    medical_association = "medical_association"  # 地区医師会
    public_health_center = "public_health_center"  # 保健所
    municipal_office = "municipal_office"  # 市町村
    fire_ems_agency = "fire_ems_agency"  # 消防機関
    equipment_supplier = "equipment_supplier"  # 医療機器・酸素事業者
    care_management_office = "care_management_office"  # 居宅介護支援事業所
    other = "other"


INSTITUTION_KIND_JA = {
    InstitutionKind.home_care_support_clinic: "在宅療養支援診療所",
    InstitutionKind.home_care_support_hospital: "在宅療養支援病院",
    InstitutionKind.clinic: "診療所",
    InstitutionKind.hospital: "病院",
    InstitutionKind.clinic_with_beds: "有床診療所",
    InstitutionKind.backup_hospital: "在宅療養後方支援病院",
    InstitutionKind.visiting_nurse_station: "訪問看護ステーション",
    InstitutionKind.pharmacy: "薬局",
    InstitutionKind.medical_association: "地区医師会",
    InstitutionKind.public_health_center: "保健所",
    InstitutionKind.municipal_office: "市町村",
    InstitutionKind.fire_ems_agency: "消防機関",
    InstitutionKind.equipment_supplier: "医療機器・酸素事業者",
    InstitutionKind.care_management_office: "居宅介護支援事業所",
    InstitutionKind.other: "その他",
}


class DesignationKind(StrEnum):
    active_institution = "active_institution"  # 在宅医療において積極的役割を担う医療機関
    hub = "hub"  # 在宅医療に必要な連携を担う拠点


class Sex(StrEnum):
    male = "male"
    female = "female"
    other = "other"
    unknown = "unknown"


class VentilatorMode(StrEnum):
    invasive = "invasive"  # TPPV, via tracheostomy
    non_invasive = "non_invasive"  # NPPV, mask


class OxygenSource(StrEnum):
    concentrator = "concentrator"
    liquid = "liquid"
    cylinders = "cylinders"


class PatientStatus(StrEnum):
    active = "active"
    moved = "moved"
    admitted = "admitted"
    deceased = "deceased"


class RiskTier(StrEnum):
    critical = "critical"
    high = "high"
    standard = "standard"


RISK_TIER_ORDER = {RiskTier.critical: 0, RiskTier.high: 1, RiskTier.standard: 2}


class Therapy(StrEnum):
    """Filter values: which device a patient depends on."""

    ventilator = "ventilator"
    oxygen = "oxygen"
    suction = "suction"
    child = "child"  # medically dependent child (医療的ケア児)


class ContactKind(StrEnum):
    self = "self"
    family = "family"
    carer = "carer"


class Channel(StrEnum):
    sms = "sms"
    voice = "voice"
