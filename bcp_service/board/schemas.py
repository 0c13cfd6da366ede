"""What a board view shows: filters, labels and the rows of its tables and lists."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bcp_service import check_states as states
from bcp_service.models.enums import RiskTier, Therapy
from bcp_service.models.rounds import STATE_ORDER

# All from the one table of states (bcp_service.check_states).
ANSWERED = frozenset(states.ANSWER_CODES)
NEEDING = states.NEEDING
SILENT = states.SILENT
STATE_LABELS = states.LABELS
POWER_LABELS = states.POWER_LABELS


@dataclass(frozen=True)
class BoardFilters:
    region_id: int | None = None
    hub_id: int | None = None
    therapy: Therapy | None = None
    risk_tier: RiskTier | None = None

    @property
    def empty(self) -> bool:
        return self == BoardFilters()

    def query(self) -> dict[str, str]:
        """As URL query parameters (for the event stream, the print view and the CSV links)."""
        values = {
            "region_id": self.region_id,
            "hub_id": self.hub_id,
            "therapy": self.therapy,
            "risk_tier": self.risk_tier,
        }
        return {k: str(v) for k, v in values.items() if v is not None}


@dataclass
class AreaRow:
    key: str
    name: str
    counts: dict[str, int | None]
    total: int | None
    answered: int | None
    needing: int | None
    suppressed: bool = False
    region_key: str = ""

    @property
    def rate(self) -> float | None:
        if not self.total or self.answered is None:
            return None
        return self.answered / self.total

    @property
    def segments(self) -> list[tuple[str, str]]:
        """(state, width %) for the stacked bar; hidden (small) cells are left out."""
        if not self.total:
            return []
        return [
            (s.value, f"{100 * self.counts[s.value] / self.total:.2f}") for s in STATE_ORDER if self.counts.get(s.value)
        ]

    @property
    def bar_label(self) -> str:
        return "、".join(
            f"{STATE_LABELS[s.value]} {self.counts[s.value]}" for s in STATE_ORDER if self.counts.get(s.value)
        )

    @property
    def rate_class(self) -> str:
        rate = self.rate
        if rate is None:
            return "rate-na"
        return f"rate-{min(4, int(rate * 5))}"


@dataclass
class Counts:
    by_state: dict[str, int | None]  # None: hidden from the aggregate role (auth.suppression)
    total: int | None
    answered: int | None
    regions: list[AreaRow] = field(default_factory=list)
    municipalities: list[AreaRow] = field(default_factory=list)
    hubs: list[AreaRow] = field(default_factory=list)
    min_cell: int = 0

    @property
    def needing(self) -> int | None:
        return _sum(self.by_state, NEEDING)

    @property
    def silent(self) -> int | None:
        return _sum(self.by_state, SILENT)


def _sum(counts: dict[str, int | None], states) -> int | None:
    """A sum of states, or None when one of them is hidden (no cell recoverable by subtraction)."""
    values = [counts.get(s, 0) for s in states]
    return None if any(v is None for v in values) else sum(values)


@dataclass(frozen=True)
class PersonRow:
    check_id: int
    patient_id: int
    name: str
    state: str
    risk_tier: str
    hours_left: float | None
    expected_hours: float | None
    device: str
    municipality: str
    last_answer_at: datetime | None
    last_channel: str | None
    ventilator: bool = False
    # What a priority row needs to act on: whom to call, where, who is responsible, what was said.
    round_id: int = 0
    phone: str | None = None
    address: str | None = None
    active_institution: str | None = None
    nurse_station: str | None = None
    note: str | None = None
    power: str | None = None
    needs_transport: bool = False
    needs_admission: bool = False
    evacuated_to: str | None = None
    # Where the person said they will stay (an advance-notice answer, kept in the registry).
    planned_stay: str = ""
    planned_stay_at: datetime | None = None
    # Triage (rounds.triage): estimated hours to harm (None: on no device); a reply waiting unread.
    harm_hours: float | None = None
    review_reply_id: int | None = None
    review_text: str | None = None


@dataclass(frozen=True)
class FeedRow:
    answer_id: int
    check_id: int
    patient_id: int
    name: str
    state: str
    hours_left: float | None
    channel: str
    answered_by: str | None
    municipality: str
    received_at: datetime
    planned_stay: str = ""
