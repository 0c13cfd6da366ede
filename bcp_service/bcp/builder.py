"""Build a BCP context from the registry.

What the registry holds is copied in; what it does not is left as ``None`` so the draft shows a
marked blank. A registry boolean that defaults to False (``enhanced``, ``open_24h``) is taken as
known, since the registry form asks for it.

Patients the draft names: those linked to the institution (as their doctor's institution,
nursing station or backup hospital), by name, since the plan is the institution's own list. An
active institution's area transport list also shows the area's other ventilator users; they are
not the institution's patients, so they appear by registry number (患者ID) only, and the hub
resolves the number when a transport has to be arranged.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

import phonenumbers
from sqlmodel import Session, select

from bcp_service.bcp import sources
from bcp_service.bcp.context import (
    AreaVentilatorPatient,
    BackedUpClinic,
    BackupHospital,
    BcpContext,
    Contact,
    Facility,
    Organisation,
    PhoneLine,
    PlanKind,
    StaffContact,
    Supplier,
    Therapy,
)
from bcp_service.bcp.context import Institution as PartnerInstitution
from bcp_service.bcp.context import Patient as DraftPatient
from bcp_service.bcp.drill import last_drill_for
from bcp_service.contacts import number_type
from bcp_service.errors import FieldError, NotFound
from bcp_service.labels import TIER_LABELS, planned_stay_text
from bcp_service.models import (
    Designation,
    Institution,
    InstitutionContact,
    Municipality,
    Patient,
    PatientContact,
    Prefecture,
)
from bcp_service.models.enums import INSTITUTION_KIND_JA, DesignationKind, InstitutionKind, OxygenSource
from bcp_service.registry.code_labels import CONTACT_KIND
from bcp_service.timeutil import display_zone

PLAN_KIND_BY_INSTITUTION_KIND: dict[str, PlanKind] = {
    InstitutionKind.clinic: "single_doctor_clinic",
    InstitutionKind.home_care_support_clinic: "home_care_support",
    InstitutionKind.home_care_support_hospital: "home_care_support",
    InstitutionKind.visiting_nurse_station: "visiting_nurse_station",
}
DESIGNATION_JA = {
    DesignationKind.active_institution: "在宅医療において積極的役割を担う医療機関",
    DesignationKind.hub: "在宅医療に必要な連携を担う拠点",
}
OXYGEN_SOURCE_JA = {
    OxygenSource.concentrator: "酸素濃縮器",
    OxygenSource.liquid: "液化酸素",
    OxygenSource.cylinders: "酸素ボンベ",
}
_ENHANCEABLE = {
    InstitutionKind.home_care_support_clinic,
    InstitutionKind.home_care_support_hospital,
    InstitutionKind.visiting_nurse_station,
}


@dataclass(frozen=True)
class BuiltContext:
    context: BcpContext
    institution: Institution
    patient_ids: list[int]


def is_active_institution(session: Session, institution_id: int) -> bool:
    return (
        session.exec(
            select(Designation.id).where(
                Designation.institution_id == institution_id, Designation.kind == DesignationKind.active_institution
            )
        ).first()
        is not None
    )


def default_plan_kind(session: Session, institution: Institution) -> PlanKind:
    if is_active_institution(session, institution.id):
        return "active_institution"
    kind = PLAN_KIND_BY_INSTITUTION_KIND.get(institution.kind)
    if kind is None:
        label = INSTITUTION_KIND_JA.get(institution.kind, institution.kind)
        raise FieldError(
            f"{label}の計画の種類は自動で決められません。plan_kind を指定してください "
            "(choose plan_kind for this kind of institution)",
            field="plan_kind",
        )
    return kind


def phone_text(e164: str | None) -> str | None:
    if not e164:
        return None
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, "JP"), phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def therapy_of(patient: Patient) -> Therapy:
    if patient.uses_ventilator:
        return {"invasive": Therapy.TPPV, "non_invasive": Therapy.NPPV}.get(
            patient.ventilator_mode or "", Therapy.VENTILATOR
        )
    if patient.uses_oxygen:
        return Therapy.HOME_OXYGEN
    return Therapy.OTHER


def _patient_fields(p: Patient, names: dict[int, Institution]) -> dict:
    therapy = therapy_of(p)
    backup = names.get(p.backup_hospital_id) if p.backup_hospital_id else None
    # The registry's flag defaults to "no", which for a tracheostomy patient more likely means
    # "not recorded": leave it blank there so the clinic confirms it.
    suction = "あり" if p.uses_suction else None
    return {
        "therapy": therapy,
        "device_model": p.ventilator_model if p.uses_ventilator else None,
        "internal_battery_hours": p.internal_battery_hours,
        "external_battery_hours": p.external_battery_hours,
        "oxygen_source": OXYGEN_SOURCE_JA.get(p.oxygen_source, p.oxygen_source) if p.uses_oxygen else None,
        "oxygen_flow_l_min": p.oxygen_flow_lpm if p.uses_oxygen else None,
        "cylinder_hours": p.cylinder_hours if p.uses_oxygen else None,
        "suction_device": suction,
        "medically_dependent_child": p.medically_dependent_child,
        "max_hours_without_device": p.max_hours_without_device,
        "risk_tier": TIER_LABELS.get(p.risk_tier, p.risk_tier),
        "backup_hospital": backup.name if backup else None,
        # Without a backup hospital there is nothing to be registered with: "未", not a second blank.
        "backup_preregistered": p.backup_hospital_preregistered if backup else False,
        "transport_plan": p.transport_plan_notes,
        "device_watts": p.device_watts,
        "generator_access": p.generator_access,
        "car_power_access": p.car_power_access,
        "planned_stay": planned_stay_text(p.planned_stay, p.planned_stay_place) or None,
    }


NUMBER_KIND_JA = {
    phonenumbers.PhoneNumberType.MOBILE: "携帯",
    phonenumbers.PhoneNumberType.FIXED_LINE: "固定電話",
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: None,
    phonenumbers.PhoneNumberType.VOIP: "IP電話",
    phonenumbers.PhoneNumberType.TOLL_FREE: "フリーダイヤル",
}


def age_on(birth: date | None, today: date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def phone_line(contact: PatientContact) -> PhoneLine:
    """「家族（妻・花子）」 and the number as dialled; whether it takes texts or calls only."""
    extra = "・".join(part for part in (contact.relation, contact.name) if part and part.strip())
    who = CONTACT_KIND.get(contact.kind, contact.kind) + (f"（{extra}）" if extra and contact.kind != "self" else "")
    return PhoneLine(
        who=who,
        phone=phone_text(contact.phone) or contact.phone,
        kind=NUMBER_KIND_JA.get(number_type(contact.phone)),
        unusable=contact.bad_since is not None,
    )


def draft_patient(
    p: Patient,
    names: dict[int, Institution],
    *,
    with_doctor: bool,
    contacts: list[PatientContact] | None = None,
    today: date | None = None,
) -> DraftPatient:
    doctor = names.get(p.active_institution_id) if p.active_institution_id else None
    return DraftPatient(
        label=p.name,
        age=age_on(p.birth_date, today or datetime.now(display_zone()).date()),
        reference=p.external_id or f"患者ID {p.id}",
        phones=[phone_line(c) for c in contacts or []],
        evacuation_destination=p.evacuation_destination,
        supplier=p.equipment_supplier,
        care_institution=(doctor.name if doctor else None) if with_doctor else None,
        **_patient_fields(p, names),
    )


def area_patient(p: Patient, names: dict[int, Institution], municipalities: dict[int, str]) -> AreaVentilatorPatient:
    doctor = names.get(p.active_institution_id) if p.active_institution_id else None
    return AreaVentilatorPatient(
        label=f"患者ID {p.id}",
        care_institution=doctor.name if doctor else None,
        municipality=municipalities.get(p.municipality_id),
        **_patient_fields(p, names),
    )


def _organisation(row: Institution | None) -> Organisation | None:
    return Organisation(name=row.name, phone=phone_text(row.phone), address=row.address) if row else None


def _contact(row: Institution | None) -> Contact | None:
    return Contact(name=row.name, phone=phone_text(row.phone)) if row else None


def _suppliers(session: Session, patients: list[Patient], municipality_ids: set[int]) -> list[Supplier]:
    named = Counter(
        p.equipment_supplier.strip() for p in patients if p.equipment_supplier and p.equipment_supplier.strip()
    )
    known = sources.equipment_suppliers(session, names=named, municipality_ids=municipality_ids)
    devices: dict[str, set[str]] = {}
    for p in patients:
        if p.equipment_supplier:
            kinds = devices.setdefault(p.equipment_supplier.strip(), set())
            if p.uses_ventilator:
                kinds.add("人工呼吸器")
            if p.uses_oxygen:
                kinds.add("在宅酸素")
    order = [name for name, _count in named.most_common()] + sorted(set(known) - set(named))
    result = []
    for name in order:
        row = known.get(name)
        kinds = devices.get(name) or set()
        result.append(
            Supplier(
                name=name,
                kind="・".join(sorted(kinds, reverse=True)) or "医療機器・酸素",
                phone=phone_text(row.phone) if row else None,
            )
        )
    return result


def build(
    *, session: Session, institution_id: int, plan_kind: PlanKind | None = None, now: datetime | None = None
) -> BuiltContext:
    institution = session.get(Institution, institution_id)
    if institution is None:
        raise NotFound("施設が見つかりません (institution not found)")
    kind = plan_kind or default_plan_kind(session, institution)
    if kind == "single_doctor_clinic" and institution.enhanced:
        # 機能強化型 means at least three full-time doctors: a plan written for one doctor would be wrong.
        raise FieldError(
            "機能強化型の施設（常勤医師3名以上）には「医師1名の診療所」の計画は選べません。"
            "在宅療養支援診療所・病院の計画を選んでください (an enhanced institution cannot take the single-doctor plan)",
            field="plan_kind",
        )
    active_plan = kind == "active_institution"
    municipality = session.get(Municipality, institution.municipality_id)
    prefecture = session.get(Prefecture, municipality.prefecture_id)
    regions, home_regions = sources.regions_of(session, institution)
    region_ids = [r.id for r in regions]

    active = (
        None
        if active_plan
        else sources.designated_partner(
            session, region_ids=region_ids, kind=DesignationKind.active_institution, institution=institution
        )
    )
    hub = sources.hub_for(session, institution=institution, region_ids=region_ids)
    patients = sources.linked_patients(session, institution.id)
    area_municipalities = sources.region_municipality_ids(session, region_ids)
    area = (
        sources.area_ventilator_patients(
            session, municipality_ids=area_municipalities, exclude_ids={p.id for p in patients}
        )
        if active_plan
        else []
    )
    names = sources.institutions_by_id(
        session,
        [p.active_institution_id for p in patients + area] + [p.backup_hospital_id for p in patients + area],
    )
    with_doctor = kind == "visiting_nurse_station"

    designations = [
        f"{DESIGNATION_JA.get(d_kind, d_kind)}（{region}）"
        for d_kind, region in sources.designations_of(session, institution.id)
    ]
    kind_label = INSTITUTION_KIND_JA.get(institution.kind, institution.kind)
    if institution.enhanced and institution.kind in _ENHANCEABLE:
        kind_label += "（機能強化型）"
    facility = Facility(
        name=institution.name,
        kind_label=kind_label,
        address=institution.address,
        phone=phone_text(institution.phone),
        municipality=municipality.name,
        prefecture=prefecture.name if prefecture else None,
        home_care_region="、".join(r.name for r in home_regions) or None,
        enhanced=institution.enhanced,
        twenty_four_hour=institution.open_24h,
        designations=designations,
    )
    staff = session.exec(
        select(InstitutionContact)
        .where(InstitutionContact.institution_id == institution.id)
        .order_by(InstitutionContact.position, InstitutionContact.id)
    ).all()
    backup_ids = sorted({p.backup_hospital_id for p in patients if p.backup_hospital_id})
    partners = sources.partner_institutions(
        session,
        institution=institution,
        patients=patients,
        exclude_ids={i.id for i in (active, hub) if i is not None} | set(backup_ids),
    )
    backed_up = (
        sources.single_doctor_clinics(session, municipality_ids=area_municipalities, exclude_id=institution.id)
        if active_plan
        else []
    )
    municipality_label = sources.municipality_names(session, [p.municipality_id for p in area])
    phones = sources.patient_contacts(session, [p.id for p in patients])
    generated_at = (now or datetime.now(display_zone())).astimezone(display_zone())

    context = BcpContext(
        plan_kind=kind,
        generated_at=generated_at,
        facility=facility,
        active_institution=_organisation(active),
        hub=_organisation(hub),
        staff_contacts=[
            StaffContact(name=s.name, role=s.role or "（役割未登録）", phone=phone_text(s.phone), order=n)
            for n, s in enumerate(staff, start=1)
        ],
        patients=[
            draft_patient(p, names, with_doctor=with_doctor, contacts=phones.get(p.id), today=generated_at.date())
            for p in patients
        ],
        backup_hospitals=[
            BackupHospital(
                name=names[i].name,
                kind=INSTITUTION_KIND_JA.get(names[i].kind, names[i].kind),
                phone=phone_text(names[i].phone),
                address=names[i].address,
            )
            for i in backup_ids
            if i in names
        ],
        suppliers=_suppliers(session, patients, area_municipalities),
        nearby_institutions=[
            PartnerInstitution(name=i.name, kind=INSTITUTION_KIND_JA.get(i.kind, i.kind), phone=phone_text(i.phone))
            for i in partners
        ],
        municipality_office=_contact(
            sources.public_body(session, kind=InstitutionKind.municipal_office, municipality=municipality)
        ),
        public_health_center=_contact(
            sources.public_body(session, kind=InstitutionKind.public_health_center, municipality=municipality)
        ),
        fire_ems=_contact(
            sources.public_body(session, kind=InstitutionKind.fire_ems_agency, municipality=municipality)
        ),
        last_drill=last_drill_for(session, institution.id),
        backed_up_clinics=[
            BackedUpClinic(name=c.name, phone=phone_text(c.phone), device_patient_count=count) for c, count in backed_up
        ],
        area_ventilator_patients=[area_patient(p, names, municipality_label) for p in area],
    )
    return BuiltContext(context=context, institution=institution, patient_ids=[p.id for p in patients + area])


def build_context(*, session: Session, institution_id: int, plan_kind: PlanKind | None = None) -> BcpContext:
    return build(session=session, institution_id=institution_id, plan_kind=plan_kind).context
