"""Input of a BCP draft, independent of the database.

The registry layer fills these models; the templates only read them. Any optional value left as
None is rendered as a marked blank (【要記入：…】) and listed at the end of the draft, so ``None``
means "the registry does not know", never "not applicable". The one exception is documented on
:class:`Patient`: battery and oxygen fields only apply to the therapies that use them.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bcp_service.timeutil import display_zone

PlanKind = Literal[
    "single_doctor_clinic",
    "home_care_support",
    "visiting_nurse_station",
    "active_institution",
]

PLAN_KIND_LABELS: dict[str, str] = {
    "single_doctor_clinic": "医師1名の診療所",
    "home_care_support": "在宅療養支援診療所・病院",
    "visiting_nurse_station": "訪問看護ステーション",
    "active_institution": "在宅医療において積極的役割を担う医療機関",
}


class _Model(BaseModel):
    # Typos in field names from the registry mapper must fail loudly, not vanish silently.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Therapy(StrEnum):
    TPPV = "人工呼吸器（TPPV）"
    NPPV = "人工呼吸器（NPPV）"
    # The registry knows the patient is on a ventilator but not whether invasively; plan for TPPV.
    VENTILATOR = "人工呼吸器（方式未登録）"
    HOME_OXYGEN = "在宅酸素"
    OTHER = "その他の医療機器"


class Facility(_Model):
    name: str
    kind_label: str = Field(description="種別 in Japanese, e.g. 在宅療養支援診療所")
    address: str | None = None
    phone: str | None = None
    municipality: str | None = None
    prefecture: str | None = None
    home_care_region: str | None = None
    enhanced: bool | None = Field(None, description="機能強化型")
    twenty_four_hour: bool | None = Field(None, description="24時間対応")
    designations: list[str] | None = Field(
        None, description="None = unknown (blank); [] = the registry knows there are none"
    )


class Organisation(_Model):
    name: str
    phone: str | None = None
    address: str | None = None


class Contact(_Model):
    """A public body (municipality office, public health centre, fire/EMS)."""

    name: str
    phone: str | None = None
    department: str | None = None


class StaffContact(_Model):
    name: str
    role: str
    phone: str | None = None
    order: int = Field(description="position in the call-out tree, 1 is called first")


class PhoneLine(_Model):
    """One number of a patient's, in the registry's calling order (own phone first, then family, carers)."""

    who: str = Field(description="本人, 家族（妻・花子）, 介護者 …")
    phone: str = Field(description="national format, as people dial it")
    kind: str | None = Field(None, description="携帯, 固定電話, IP電話 (a landline takes calls only)")
    unusable: bool = Field(False, description="the provider said the number cannot be reached")


class Patient(_Model):
    """A device-dependent patient as the plan needs to see them.

    Battery fields apply to ventilator users (or anyone whose battery hours are known) and oxygen
    fields to oxygen users (or anyone with an oxygen source recorded); elsewhere they print as
    "—" and do not count as blanks, because asking a clinic for the oxygen flow of a patient who
    takes no oxygen would bury the real gaps.
    """

    label: str = Field(description="pseudonymous label or name, as the reader is allowed to see")
    # Told apart from a namesake (issue 27.8): the call list always prints age and reference beside the
    # name, so whoever phones checks the person, not only the name.
    age: int | None = Field(None, description="whole years on the day the draft was made")
    reference: str | None = Field(None, description="the registry's external id, else 患者ID n")
    # None: a draft made before phones were carried (its stored context has none); []: no number registered.
    phones: list[PhoneLine] | None = None
    therapy: Therapy
    device_model: str | None = None
    internal_battery_hours: float | None = None
    external_battery_hours: float | None = None
    oxygen_source: str | None = Field(None, description="濃縮器・液化酸素・ボンベ")
    oxygen_flow_l_min: float | None = None
    cylinder_hours: float | None = None
    suction_device: str | None = Field(None, description="e.g. 電動（内蔵バッテリー）＋足踏み式")
    medically_dependent_child: bool = False
    max_hours_without_device: float | None = None
    risk_tier: str | None = None
    backup_hospital: str | None = None
    backup_preregistered: bool | None = None
    evacuation_destination: str | None = None
    transport_plan: str | None = None
    supplier: str | None = None
    # Power needs (様式7; the long-blackout section): what the devices draw and what can run them.
    device_watts: int | None = None
    generator_access: bool | None = None
    car_power_access: bool | None = None
    planned_stay: str | None = Field(None, description="災害時に過ごす場所 (自宅・避難所・親戚宅等・入院)")
    care_institution: str | None = Field(
        None, description="主治医の医療機関; asked only where the plan is not the doctor's own"
    )

    @property
    def uses_ventilator(self) -> bool:
        return self.therapy in (Therapy.TPPV, Therapy.NPPV, Therapy.VENTILATOR)

    @property
    def identity(self) -> str:
        """「82歳・ID K-0012」: what tells two patients of the same name apart."""
        parts = [f"{self.age}歳" if self.age is not None else "年齢未登録"]
        if self.reference:
            parts.append(self.reference if self.reference.startswith("患者ID") else f"ID {self.reference}")
        return "・".join(parts)

    @property
    def needs_battery_fields(self) -> bool:
        return (
            self.uses_ventilator or self.internal_battery_hours is not None or self.external_battery_hours is not None
        )

    @property
    def needs_oxygen_fields(self) -> bool:
        return self.therapy == Therapy.HOME_OXYGEN or self.oxygen_source is not None

    @property
    def needs_suction_field(self) -> bool:
        return self.therapy in (Therapy.TPPV, Therapy.VENTILATOR) or self.suction_device is not None

    @property
    def needs_power_fields(self) -> bool:
        """Devices on mains power: a ventilator, a suction device, or an oxygen concentrator."""
        return self.needs_battery_fields or self.suction_device is not None or "濃縮器" in (self.oxygen_source or "")

    @property
    def battery_total_hours(self) -> float | None:
        if self.internal_battery_hours is None and self.external_battery_hours is None:
            return None
        return (self.internal_battery_hours or 0) + (self.external_battery_hours or 0)


def triage_input(p: Patient):
    from bcp_service.rounds.triage import TriageInput

    ventilator = p.therapy in (Therapy.TPPV, Therapy.NPPV, Therapy.VENTILATOR)
    oxygen = p.therapy == Therapy.HOME_OXYGEN or p.oxygen_source is not None
    hours = p.battery_total_hours if ventilator else p.cylinder_hours if oxygen else None
    return TriageInput(
        uses_ventilator=ventilator,
        ventilator_mode="non_invasive" if p.therapy == Therapy.NPPV else None,
        uses_oxygen=oxygen,
        uses_suction=p.suction_device is not None,
        medically_dependent_child=p.medically_dependent_child,
        max_hours_without_device=p.max_hours_without_device,
        hours_left=hours,
        risk_tier=p.risk_tier,
    )


class AreaVentilatorPatient(Patient):
    """A ventilator user in an active institution's area, for the area transport plan."""

    municipality: str | None = None


class BackupHospital(_Model):
    name: str
    kind: str = Field("在宅療養後方支援病院", description="or 有床診療所, 地域の病院 …")
    phone: str | None = None
    address: str | None = None


class Supplier(_Model):
    name: str
    kind: str = Field(description="e.g. 人工呼吸器, 在宅酸素, 医薬品, 衛生材料")
    phone: str | None = None
    supplies: str | None = Field(None, description="what they supply or do in an emergency")


class Institution(_Model):
    """A coordination partner: clinic, nursing station, pharmacy, care-management office."""

    name: str
    kind: str
    phone: str | None = None


class BackedUpClinic(_Model):
    """A clinic the active institution covers at night and when its doctor is away."""

    name: str
    phone: str | None = None
    doctor_count: int | None = None
    cover: str | None = Field(None, description="e.g. 夜間・休日の往診、医師不在時の代診")
    agreement_signed: bool | None = None
    device_patient_count: int | None = None


class Drill(_Model):
    held_on: date
    round_name: str
    target_count: int
    answered_count: int
    answer_rate: float | None = Field(None, description="0..1; derived from counts when omitted")
    median_minutes_to_answer: float | None = None

    @property
    def rate(self) -> float | None:
        if self.answer_rate is not None:
            return self.answer_rate
        return self.answered_count / self.target_count if self.target_count else None


class BcpContext(_Model):
    plan_kind: PlanKind
    generated_at: datetime = Field(default_factory=lambda: datetime.now(display_zone()))
    facility: Facility
    active_institution: Organisation | None = None
    hub: Organisation | None = None
    staff_contacts: list[StaffContact] = []
    patients: list[Patient] = []
    backup_hospitals: list[BackupHospital] = []
    suppliers: list[Supplier] = []
    nearby_institutions: list[Institution] = []
    municipality_office: Contact | None = None
    public_health_center: Contact | None = None
    fire_ems: Contact | None = None
    last_drill: Drill | None = None
    backed_up_clinics: list[BackedUpClinic] = Field(
        [], description="active institutions only: clinics covered at night / in absence"
    )
    area_ventilator_patients: list[AreaVentilatorPatient] = Field(
        [], description="active institutions only: ventilator users in the area"
    )
    local_facts: dict[str, str] = Field(
        {},
        description=(
            "answers the facility gave for items the registry never holds (generator, hazard "
            "map...), keyed by the blank's label as the draft lists it"
        ),
    )

    @property
    def plan_kind_label(self) -> str:
        return PLAN_KIND_LABELS[self.plan_kind]

    @property
    def sorted_staff(self) -> list[StaffContact]:
        return sorted(self.staff_contacts, key=lambda s: s.order)

    @property
    def patients_by_priority(self) -> list[Patient]:
        """Call order for a safety check: the one triage order (rounds.triage): estimated hours to harm
        (the registry's battery or oxygen hours plus the hours tolerated without the device, unknown as
        zero) first, then device class (TPPV, NPPV, oxygen, suction) and risk tier."""
        from bcp_service.rounds.triage import sort_by_triage

        return sort_by_triage(list(self.patients), triage_input)

    @property
    def call_order_rule(self) -> str:
        """The call order's rule in words, the one the board and the nurse page follow (rounds.triage)."""
        from bcp_service.rounds.triage import RULE_TEXT

        return RULE_TEXT

    def harm_hours_of(self, p: Patient) -> float | None:
        """Estimated hours to harm from the registry (None: on no device)."""
        from bcp_service.rounds.triage import NO_DEVICE_HOURS, hours_to_harm

        harm = hours_to_harm(triage_input(p))
        return None if harm >= NO_DEVICE_HOURS else round(harm, 1)
