"""The nurse's result: what the phone sends (also queued offline) and what it gets back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bcp_service import check_states as states
from bcp_service.models.rounds import CheckState

NURSE_STATES = states.NURSE_CODES
NURSE_STATE_LABELS = {code: states.LABELS[code] for code in NURSE_STATES}
NurseState = Literal[NURSE_STATES]  # type: ignore[valid-type]
METHOD_LABELS = {"phone": "電話", "visit": "訪問"}
ClientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]


class NurseResultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: ClientId = Field(
        description="made on the phone (a UUID); the same id is recorded once, however often it is sent"
    )
    check_id: int
    state: NurseState
    method: Literal["phone", "visit"] = "phone"
    hours_left: Annotated[float, Field(ge=0, le=720)] | None = Field(None, description="battery or oxygen hours left")
    hours_unknown: bool = Field(False, description="hours left asked but not known (counts as zero)")
    power: Literal["on", "out", "unknown"] | None = None
    needs_transport: bool = False
    needs_admission: bool = False
    evacuated_to: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None
    observed_at: datetime | None = Field(
        None, description="when the nurse recorded it on the phone (offline: earlier than sent)"
    )


class NurseResultOut(BaseModel):
    answer_id: int
    check_id: int
    state: CheckState
    created: bool = Field(description="false when this client_id had already been recorded")


@dataclass(frozen=True)
class Contact:
    kind: str
    name: str | None
    relation: str | None
    phone: str
    display: str
    # What the provider told us about the number: a nurse still sees it (she may know better) but is warned.
    warning: str | None = None


@dataclass(frozen=True)
class NurseRow:
    check_id: int
    round_id: int
    round_title: str
    drill: bool
    patient_id: int
    name: str
    name_kana: str | None
    address: str | None
    device: str
    risk_tier: str
    state: str
    hours_left: float | None
    expected_hours: float | None
    last_answer_at: datetime | None
    last_channel: str | None
    contacts: tuple[Contact, ...]
    # The latest answer's structure (what the patient or family said).
    power: str | None = None
    hours_unknown: bool = False
    needs_transport: bool = False
    needs_admission: bool = False
    evacuated_to: str | None = None
    note: str | None = None
    # Where the patient said they will stay (advance notice; the registry keeps the latest).
    planned_stay: str = ""
    planned_stay_at: datetime | None = None
    # The disaster (rounds.incidents) and every running round this person's one conversation is in.
    incident_id: int | None = None
    rounds: tuple[tuple[int, str, bool], ...] = ()
    # Triage (rounds.triage): estimated hours to harm (None: on no device); a reply waiting unread.
    harm_hours: float | None = None
    review_reply_id: int | None = None
    review_text: str | None = None
