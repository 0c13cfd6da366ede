"""Guard settings, prior-event records and decisions: what the trigger API stores and shows."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from bcp_service.intensity import Intensity, IntensityField
from bcp_service.triggers.events import Hazard

Action = Literal["schedule_round", "ignore", "cancel_pending", "update_pending"]
PriorState = Literal["pending", "started", "cancelled", "ignored"]

REASON_CODES: dict[str, str] = {
    "threshold_met": "基準に達したため安否確認を予約",
    "stronger_aftershock": "前回より強い余震のため安否確認を予約",
    "stronger_than_recent_event": "直近の同種災害より強いため安否確認を予約",
    "merged_into_pending": "送信待ちの安否確認に、より強い事象の対象を統合",
    "event_extended": "同じ事象の続報で対象市町村を追加",
    "correction_updates_pending": "訂正報により送信待ちの対象を更新",
    "correction_below_threshold": "訂正報により基準未満となり送信待ちを中止",
    "cancelled_before_send": "取消報により送信前に中止",
    "cancel_too_late": "取消報を受信したが送信開始済み",
    "cancelled_event_withdrawn": "取消報により、統合されていた事象の分を送信待ちの安否確認から除外",
    "cancel_without_round": "取消報を受信したが対象の安否確認なし",
    "below_threshold": "基準未満",
    "no_matching_municipalities": "登録市町村が含まれない",
    "no_registered_patients": "患者登録のある市町村なし",
    "duplicate_event": "同じ事象（EventID）の安否確認を実施済みまたは送信待ち",
    "aftershock_not_stronger": "余震（前回より強くない）",
    "recent_event_not_stronger": "直近の同種災害より強くない",
    "drill_ignored": "訓練報",
    "test_ignored": "試験報",
    "stale_event": "古い情報",
}
"""Every reason `decide` can give, with a short Japanese title for lists and filters."""


class GuardConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    min_intensity: IntensityField = Intensity.FIVE_LOWER
    min_level: int = Field(default=4, ge=1, le=5, description="警戒レベル for hazards without their own threshold")
    hazard_levels: dict[str, int] = Field(
        default_factory=dict, description="hazard → 警戒レベル threshold (tsunami: 3 注意報, 4 警報, 5 大津波警報)"
    )
    delay_seconds: int = Field(default=180, ge=0, le=3600)
    aftershock_window_hours: float = Field(default=6, ge=0, le=72)
    max_event_age_hours: float | None = Field(
        default=24, gt=0, description="older reports (a replayed feed) start nothing; None = no limit"
    )
    accept_drill: bool = False
    accept_test: bool = False

    @field_validator("hazard_levels")
    @classmethod
    def _levels_in_range(cls, value: dict[str, int]) -> dict[str, int]:
        known = {h.value for h in Hazard}
        for hazard, level in value.items():
            if hazard not in known:
                raise ValueError(f"unknown hazard '{hazard}' in hazard_levels; known: {', '.join(sorted(known))}")
            if not 1 <= level <= 5:
                raise ValueError(f"hazard_levels[{hazard}] must be a level 1-5, got {level}")
        return value

    def threshold(self, hazard: Hazard) -> int:
        if hazard is Hazard.EARTHQUAKE:
            return self.min_intensity.rank
        return self.hazard_levels.get(hazard.value, self.min_level)


class PriorEvent(BaseModel):
    """What the caller recorded about an earlier event (one row per event id)."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    hazard: Hazard = Hazard.EARTHQUAKE
    municipalities: frozenset[str] = frozenset()
    max_severity: int = Field(default=0, description="Decision.severity when it was recorded")
    municipality_severity: dict[str, int] = Field(
        default_factory=dict,
        description="strongest severity known per municipality; max_severity fills the gaps",
    )
    first_seen_at: AwareDatetime
    state: PriorState
    round_id: str | None = None
    not_before: AwareDatetime | None = None
    drill: bool = False
    contributions: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="event id -> the severities that event brought to this round (its own and merged events); "
        "empty: only its own event, with municipality_severity",
    )

    def severity_in(self, code: str) -> int:
        return self.municipality_severity.get(code, self.max_severity)

    def sources(self) -> dict[str, dict[str, int]]:
        """Which event justifies which municipality of this round, and how strongly."""
        if self.contributions:
            return {event_id: dict(levels) for event_id, levels in self.contributions.items()}
        return {self.event_id: {code: self.severity_in(code) for code in self.municipalities}}


def combine(sources: dict[str, dict[str, int]]) -> dict[str, int]:
    """The round's severities from its events' contributions: the strongest per municipality."""
    combined: dict[str, int] = {}
    for levels in sources.values():
        for code, rank in levels.items():
            combined[code] = max(combined.get(code, 0), rank)
    return combined


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: Action
    reason: str
    reason_ja: str
    event_id: str
    municipalities: tuple[str, ...] = Field(
        default=(), description="our codes the round covers: met the threshold and have patients"
    )
    severity: int = Field(default=0, description="strongest severity among `municipalities`")
    municipality_severity: dict[str, int] = Field(
        default_factory=dict, description="severity rank in each of `municipalities`"
    )
    not_before: datetime | None = None
    drill: bool = False
    target_round_id: str | None = Field(default=None, description="the pending round to change")
    contributions: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="update_pending: the target's contributions after this decision"
    )
    excluded: dict[str, str] = Field(default_factory=dict, description="municipality → reason code it was left out")
    decided_at: datetime


class RecordPublic(BaseModel):
    """One event's round as the trigger API shows it: pending until not_before, then started."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: str
    seq: int
    hazard: str
    drill: bool
    title: str
    municipalities: list[str]
    max_severity: int
    first_seen_at: datetime
    state: Literal["pending", "started", "cancelled", "failed", "ignored"]
    not_before: datetime | None
    round_id: int | None
    started_at: datetime | None
    cancelled_at: datetime | None
    cancelled_by: str | None
    error: str | None
    contributions: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="event id -> the severities it brought to this round (merged events)"
    )


class DecisionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: str
    decided_at: datetime
    action: Literal["schedule_round", "ignore", "cancel_pending", "update_pending"]
    reason: str = Field(description="a code from REASON_CODES, or cancelled_by_person")
    reason_title: str = Field(description="short Japanese title of the reason")
    reason_ja: str = Field(description="the decision in a sentence, for the prefecture officer")
    drill: bool
    municipalities: list[str]
    severity: int
    excluded: dict[str, str] = Field(description="municipality code → why it was left out")
    not_before: datetime | None
    report_id: int | None = Field(description="the bulletin or event it decided on; None when a person decided")
    source: str | None = None
    kind: str | None = Field(None, description="VXSE51, VXSE53 or json")
    status: str | None = Field(None, description="normal, drill or test")
    info_type: str | None = Field(None, description="issue, correction or cancel")
    title: str | None = None
    hazard: str | None = Field(None, description="the bulletin's (or its round's) hazard: earthquake, tsunami, …")
    record: RecordPublic | None = Field(None, description="the event's round this decision created or changed")
