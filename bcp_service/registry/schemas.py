"""Request and response schemas for the registry API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from bcp_service.channels import CHANNELS, own_address_channels
from bcp_service.models.enums import (
    ContactKind,
    DesignationKind,
    InstitutionKind,
    OxygenSource,
    PatientStatus,
    RiskTier,
    Sex,
    VentilatorMode,
)
from bcp_service.registry.phones import normalise_japanese_phone, normalise_phone

T = TypeVar("T")

Phone = Annotated[str, AfterValidator(normalise_phone)]
# issue 25.4: the on-call number of a station or hub, Japanese only (the page goes through the Japanese sender).
OncallPhone = Annotated[str, AfterValidator(normalise_japanese_phone)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Text300 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
MunicipalityCode = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
Hours = Annotated[float, Field(ge=0, le=720)]
DbId = Annotated[int, Field(ge=1, le=2**31 - 1)]  # an id: a 32-bit integer column on both engines


def check_digit(five: str) -> str:
    """Check digit of a Japanese local-government code (全国地方公共団体コード)."""
    total = sum(int(d) * w for d, w in zip(five, (6, 5, 4, 3, 2), strict=True))
    return str((11 - total % 11) % 10)


def validate_municipality_code(code: str) -> str:
    if len(code) != 6 or not code.isdigit():
        raise ValueError("市町村コードは6桁の数字です (municipality code must be 6 digits)")
    if check_digit(code[:5]) != code[5]:
        raise ValueError("市町村コードの検査数字が合いません (check digit does not match)")
    return code


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PrefectureCreate(Strict):
    code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^(0[1-9]|[1-9][0-9])$")] = Field(
        description="JIS X 0401 two-digit code, e.g. 12"
    )
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=20)]


class PrefecturePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    quiet_start: str | None = Field(
        None,
        description="advance notices: no family texts or calls from this local time "
        "(null: the service's default, settings notice_quiet_hours)",
    )
    quiet_end: str | None = Field(None, description="... until this local time; the same as quiet_start: none")


class QuietHours(Strict):
    start: Annotated[str, StringConstraints(max_length=10)] | None = Field(
        None, description="HH:MM local; both null: back to the service's default"
    )
    end: Annotated[str, StringConstraints(max_length=10)] | None = None


class RegionCreate(Strict):
    prefecture_id: int
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    notes: Annotated[str, StringConstraints(max_length=1000)] | None = None
    municipality_ids: list[int] = Field(default_factory=list)


class RegionUpdate(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None
    notes: Annotated[str, StringConstraints(max_length=1000)] | None = None
    municipality_ids: list[int] | None = None


class DesignationPublic(BaseModel):
    institution_id: int
    institution_name: str
    kind: DesignationKind


class RegionPublic(BaseModel):
    id: int
    prefecture_id: int
    name: str
    notes: str | None
    municipality_ids: list[int]
    designations: list[DesignationPublic] = Field(default_factory=list)


class MunicipalityCreate(Strict):
    code: Annotated[MunicipalityCode, AfterValidator(validate_municipality_code)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    prefecture_id: int
    secondary_medical_area_id: int | None = None
    public_health_center_district_id: int | None = None
    local_medical_association_id: int | None = None


class MunicipalityUpdate(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)] | None = None
    secondary_medical_area_id: int | None = None
    public_health_center_district_id: int | None = None
    local_medical_association_id: int | None = None


class MunicipalityPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    prefecture_id: int
    secondary_medical_area_id: int | None
    public_health_center_district_id: int | None
    local_medical_association_id: int | None
    membership_source: str


class StaffContactIn(Strict):
    name: Name
    role: Annotated[str, StringConstraints(max_length=100)] | None = None
    phone: Phone | None = None
    email: Annotated[str, StringConstraints(max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None


class StaffContactPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    position: int
    name: str
    role: str | None
    phone: str | None
    email: str | None


class DesignationIn(Strict):
    region_id: int
    kind: DesignationKind


class InstitutionCreate(Strict):
    external_id: ExternalId | None = None
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    kind: InstitutionKind
    enhanced: bool = False
    open_24h: bool = False
    address: Text300 | None = None
    municipality_id: int
    phone: Phone | None = None
    oncall_phone: OncallPhone | None = None
    staff_contacts: list[StaffContactIn] = Field(default_factory=list, max_length=50)
    designations: list[DesignationIn] = Field(default_factory=list, max_length=50)
    hub_municipality_ids: list[int] = Field(default_factory=list, max_length=200)


class InstitutionUpdate(Strict):
    external_id: ExternalId | None = None
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    kind: InstitutionKind | None = None
    enhanced: bool | None = None
    open_24h: bool | None = None
    address: Text300 | None = None
    municipality_id: int | None = None
    phone: Phone | None = None
    oncall_phone: OncallPhone | None = None
    staff_contacts: list[StaffContactIn] | None = Field(default=None, max_length=50)
    designations: list[DesignationIn] | None = Field(
        default=None, max_length=50, description="refused here (403): PUT /api/v1/institutions/{id}/designations"
    )
    hub_municipality_ids: list[int] | None = Field(
        default=None, max_length=200, description="refused here (403): PUT /api/v1/institutions/{id}/hub-municipalities"
    )


class DesignationsPut(Strict):
    designations: list[DesignationIn] = Field(max_length=50)


class HubMunicipalitiesPut(Strict):
    hub_municipality_ids: list[DbId] = Field(max_length=200)


class InstitutionPublic(BaseModel):
    id: int
    external_id: str | None
    name: str
    kind: InstitutionKind
    kind_ja: str
    enhanced: bool
    open_24h: bool
    address: str | None
    municipality_id: int
    phone: str | None
    oncall_phone: str | None = None
    staff_contacts: list[StaffContactPublic] = Field(default_factory=list)
    designations: list[DesignationIn] = Field(default_factory=list)
    hub_municipality_ids: list[int] = Field(default_factory=list)


def known_channel(value: str) -> str:
    if value not in CHANNELS:
        raise ValueError(f"連絡方法は {'、'.join(CHANNELS)} のいずれかです (unknown channel)")
    return value


ChannelName = Annotated[str, AfterValidator(known_channel)]


def own_addresses(value: dict[str, str]) -> dict[str, str]:
    """The addresses of the channels that have their own (e-mail), each normalised by its channel; blanks dropped."""
    channels = own_address_channels()
    found = {}
    for name, address in value.items():
        channel = channels.get(name)
        if channel is None or channel.normalise is None:
            raise ValueError(f"{name} は連絡先の宛先の種類ではありません (not an address kind)")
        if address and address.strip():
            found[name] = channel.normalise(address)
    return found


class PatientContactIn(Strict):
    kind: ContactKind = ContactKind.self
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    relation: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)] | None = None
    # The channels with addresses of their own (``channels.own_address_channels``: e-mail) → the address.
    # Declared before ``phone``, whose check reads it.
    addresses: Annotated[dict[str, str], AfterValidator(own_addresses)] = Field(default_factory=dict)
    phone: Phone | None = Field(default=None, validate_default=True)  # None: reached only at ``addresses``
    preferred_channel: ChannelName = "sms"

    @field_validator("phone")
    @classmethod
    def _phone_or_an_address(cls, value: str | None, info):
        # An address that failed its own check is reported there, not as a missing phone as well.
        if value is None and "addresses" in info.data and not info.data["addresses"]:
            raise PydanticCustomError(
                "missing", "電話番号かメールアドレスを入力してください (a phone number or an address is required)"
            )
        return value


class PatientContactPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    position: int
    kind: ContactKind
    name: str | None
    relation: str | None
    phone: str | None
    preferred_channel: str
    bad_since: datetime | None
    bad_reason: str | None
    addresses: dict[str, str] = Field(default_factory=dict)  # e-mail: the channels' own addresses
    refused: dict[str, datetime] = Field(default_factory=dict)  # channel → since when it refuses (a landline: sms)


PlannedStay = Literal["home", "shelter", "relative", "hospital"]


class PatientFields(Strict):
    """Fields shared by create and update; on update every field is optional."""

    name_kana: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    birth_date: date | None = None
    address: Text300 | None = None
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    ventilator_mode: VentilatorMode | None = None
    ventilator_model: Annotated[str, StringConstraints(max_length=100)] | None = None
    internal_battery_hours: Hours | None = None
    external_battery_hours: Hours | None = None
    ventilator_hours_per_day: Annotated[float, Field(ge=0, le=24)] | None = None
    oxygen_source: OxygenSource | None = None
    oxygen_flow_lpm: Annotated[float, Field(gt=0, le=15)] | None = None
    cylinder_hours: Hours | None = None
    max_hours_without_device: Hours | None = None
    active_institution_id: int | None = None
    visiting_nurse_station_id: int | None = None
    hub_id: int | None = None
    # True: the hub was chosen by hand and stays when the map is redrawn; false or absent on create:
    # the hub follows the municipality (a designated hub covering it; registry/hub_follow.py).
    hub_pinned: bool | None = None
    backup_hospital_id: int | None = None
    evacuation_destination: Text300 | None = None
    transport_plan_notes: Annotated[str, StringConstraints(max_length=2000)] | None = None
    equipment_supplier: Text200 | None = None
    disaster_share_consent_date: date | None = None
    # Power needs (BCP patient table; docs/outages.md).
    device_watts: Annotated[int, Field(ge=0, le=5000, description="total draw of the devices, W")] | None = None
    generator_access: bool | None = None
    car_power_access: bool | None = None
    planned_stay: PlannedStay | None = None
    planned_stay_place: Text200 | None = None

    @field_validator("birth_date")
    @classmethod
    def _birth_date_not_future(cls, value: date | None) -> date | None:
        if value is not None and (value > date.today() or value.year < 1900):
            raise ValueError("生年月日が正しくありません (birth date is in the future or before 1900)")
        return value


class PatientCreate(PatientFields):
    external_id: ExternalId | None = None
    name: Name
    sex: Sex = Sex.unknown
    municipality_id: int
    uses_ventilator: bool = False
    uses_oxygen: bool = False
    uses_suction: bool = False
    medically_dependent_child: bool = False
    backup_hospital_preregistered: bool = False
    status: PatientStatus = PatientStatus.active
    contacts: list[PatientContactIn] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _device_details_match(self) -> PatientCreate:
        if self.ventilator_mode and not self.uses_ventilator:
            raise ValueError("ventilator_mode is set but uses_ventilator is false")
        if self.oxygen_source and not self.uses_oxygen:
            raise ValueError("oxygen_source is set but uses_oxygen is false")
        return self


class PatientUpdate(PatientFields):
    external_id: ExternalId | None = None
    name: Name | None = None
    sex: Sex | None = None
    municipality_id: int | None = None
    uses_ventilator: bool | None = None
    uses_oxygen: bool | None = None
    uses_suction: bool | None = None
    medically_dependent_child: bool | None = None
    backup_hospital_preregistered: bool | None = None
    status: PatientStatus | None = None
    status_reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = None
    contacts: list[PatientContactIn] | None = Field(default=None, max_length=10)


class PatientPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    external_id: str | None
    name: str
    name_kana: str | None
    birth_date: date | None
    sex: Sex
    address: str | None
    municipality_id: int
    latitude: float | None
    longitude: float | None
    uses_ventilator: bool
    ventilator_mode: VentilatorMode | None
    ventilator_model: str | None
    internal_battery_hours: float | None
    external_battery_hours: float | None
    ventilator_hours_per_day: float | None
    uses_oxygen: bool
    oxygen_source: OxygenSource | None
    oxygen_flow_lpm: float | None
    cylinder_hours: float | None
    uses_suction: bool
    medically_dependent_child: bool
    max_hours_without_device: float | None
    active_institution_id: int | None
    visiting_nurse_station_id: int | None
    hub_id: int | None
    hub_pinned: bool = False
    backup_hospital_id: int | None
    backup_hospital_preregistered: bool
    evacuation_destination: str | None
    transport_plan_notes: str | None
    equipment_supplier: str | None
    disaster_share_consent_date: date | None
    device_watts: int | None = None
    generator_access: bool | None = None
    car_power_access: bool | None = None
    planned_stay: str | None = None
    planned_stay_place: str | None = None
    planned_stay_at: datetime | None = None
    status: PatientStatus
    status_reason: str | None = None
    status_changed_at: datetime | None = None
    risk_tier: RiskTier
    created_at: datetime
    updated_at: datetime | None
    contacts: list[PatientContactPublic] = Field(default_factory=list)


class CoverageGapRegion(BaseModel):
    region_id: int
    region_name: str
    prefecture_id: int
    municipality_codes: list[str]
    active_institutions: list[str]
    hubs: list[str]
    missing: list[DesignationKind]
    # Designated, but not of a kind the prefecture's rule counts (Chiba: not an enhanced 在支病).
    not_counted: list[str] = []
    # "code name" of the region's municipalities that no hub covers.
    municipalities_without_hub: list[str] = []


class CoverageGapReport(BaseModel):
    regions: list[CoverageGapRegion]
    gaps: list[CoverageGapRegion]
    municipalities_without_hub: list[str] = []
