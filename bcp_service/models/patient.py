"""Home ventilator and oxygen patients and their contacts. Rows are never hard-deleted."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, UniqueConstraint, event, text
from sqlmodel import Field, SQLModel

from bcp_service.models.base import created_at_field, timestamp_field
from bcp_service.search_text import search_key


class Patient(SQLModel, table=True):
    __tablename__ = "patient"
    __table_args__ = (
        Index("ix_patient_municipality_status_tier", "municipality_id", "status", "risk_tier"),
        Index("ix_patient_status_tier_id", "status", "risk_tier", "id"),
        # Counts for the broad list filters come from an index-only scan.
        Index("ix_patient_count_filters", "status", "risk_tier", "uses_oxygen", "uses_ventilator", "municipality_id"),
        # An external id is another organisation's key, unique only within the organisation that gave
        # it (registry/external_ids.py): a database-wide rule answered "exists" for patients out of scope.
        Index("ix_patient_external_id", "external_id"),
        Index("uq_patient_external_id_owner", "external_id_owner", "external_id", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    external_id: str | None = Field(default=None, max_length=64)
    # Whose register the external id comes from ("hub:12", "institution:7", "prefecture:1", "admin");
    # None for ids written before 0014 and ids whose organisation no longer sees the patient.
    external_id_owner: str | None = Field(default=None, max_length=40)
    name: str = Field(max_length=100)
    name_kana: str | None = Field(default=None, max_length=100)
    # name and kana in search form (search_text.py); set on every write, searched by ``q``.
    name_search: str = Field(default="", max_length=210)
    birth_date: date | None = None
    sex: str = Field(default="unknown", max_length=10)
    address: str | None = Field(default=None, max_length=300)
    municipality_id: int = Field(foreign_key="municipality.id")
    latitude: float | None = None
    longitude: float | None = None

    uses_ventilator: bool = Field(default=False, index=True)
    ventilator_mode: str | None = Field(default=None, max_length=20)
    ventilator_model: str | None = Field(default=None, max_length=100)
    internal_battery_hours: float | None = None
    external_battery_hours: float | None = None
    ventilator_hours_per_day: float | None = None
    uses_oxygen: bool = Field(default=False, index=True)
    oxygen_source: str | None = Field(default=None, max_length=20)
    oxygen_flow_lpm: float | None = None
    cylinder_hours: float | None = None
    uses_suction: bool = Field(default=False)
    medically_dependent_child: bool = Field(default=False)
    max_hours_without_device: float | None = None

    active_institution_id: int | None = Field(default=None, foreign_key="institution.id", index=True)
    visiting_nurse_station_id: int | None = Field(default=None, foreign_key="institution.id", index=True)
    hub_id: int | None = Field(default=None, foreign_key="institution.id", index=True)
    # The hub was chosen by hand: it stays when the map is redrawn. Otherwise the hub follows the
    # municipality (registry/hub_follow.py): a designated hub covering it (issue 27.2).
    hub_pinned: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    backup_hospital_id: int | None = Field(default=None, foreign_key="institution.id", index=True)
    backup_hospital_preregistered: bool = Field(default=False)
    evacuation_destination: str | None = Field(default=None, max_length=300)
    transport_plan_notes: str | None = Field(default=None, max_length=2000)
    equipment_supplier: str | None = Field(default=None, max_length=200)
    # Power needs (BCP patient table, outage triage): what the devices draw and what can power them.
    device_watts: int | None = None  # total draw of the life-sustaining devices, W
    generator_access: bool | None = None  # a generator at home or nearby they can use
    car_power_access: bool | None = None  # a car with an AC outlet / inverter to run the devices
    # Where they plan to stay when a forecast hazard comes (advance-notice answers, or staff).
    planned_stay: str | None = Field(default=None, max_length=20)  # home | shelter | relative | hospital
    planned_stay_place: str | None = Field(default=None, max_length=200)
    planned_stay_at: datetime | None = timestamp_field()

    disaster_share_consent_date: date | None = None
    status: str = Field(default="active", max_length=20)
    status_reason: str | None = Field(default=None, max_length=300)
    status_changed_at: datetime | None = timestamp_field()
    risk_tier: str = Field(default="standard", max_length=20)
    created_at: datetime = created_at_field()
    updated_at: datetime | None = timestamp_field()


class PatientContact(SQLModel, table=True):
    """A way to reach the patient, in calling order: own mobile first, then family and carers."""

    __tablename__ = "patient_contact"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    position: int = Field(default=1)
    kind: str = Field(default="self", max_length=10)
    name: str | None = Field(default=None, max_length=100)
    relation: str | None = Field(default=None, max_length=50)
    # The phone channels' address (SMS, calls); None for a contact reached only at an address of its own
    # (e-mail: a ``ContactAddress`` row).
    phone: str | None = Field(default=None, max_length=20, index=True, description="E.164")
    preferred_channel: str = Field(default="sms", max_length=10)
    # Set when the provider says the number can never receive (e.g. Twilio 21211/21614).
    bad_since: datetime | None = timestamp_field()
    bad_reason: str | None = Field(default=None, max_length=100)


class ContactAddress(SQLModel, table=True):
    """One channel of a contact: its address there and since when it refuses (contacts.Contact).

    A phone channel (SMS, voice: ``Channel.address_kind == "phone"``) is addressed at the contact's
    ``phone``, so its row exists only once the channel refused that number for good (Twilio 21614: a
    landline refuses SMS); a channel with addresses of its own (e-mail) keeps its address here.
    """

    __tablename__ = "contact_address"
    __table_args__ = (UniqueConstraint("contact_id", "kind", name="uq_contact_address_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="patient_contact.id", ondelete="CASCADE", index=True)
    kind: str = Field(max_length=10)  # a channel of channels.CHANNELS
    address: str | None = Field(default=None, max_length=254)  # None: the contact's phone
    refused_since: datetime | None = timestamp_field()


@event.listens_for(Patient, "before_insert")
@event.listens_for(Patient, "before_update")
def _keep_search_key(_mapper, _connection, patient: Patient) -> None:
    # Every ORM write keeps the search form in step; bulk Core writers call ``search_key`` themselves.
    patient.name_search = search_key(patient.name, patient.name_kana)
