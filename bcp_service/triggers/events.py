"""Trigger events: the plain JSON event, and one common form for JSON and JMA bulletins.

Severity of a plain JSON event
------------------------------
- earthquake: a JMA seismic intensity, "5-", "5弱", "震度5弱", "5 lower" (see intensity.py).
  The comparable rank is 1 (震度1) .. 9 (震度7).
- every other hazard: a level 1..5 on the scale of the Cabinet Office's 警戒レベル, where
  4 means everyone in the area must evacuate. Words are accepted for the levels most feeds
  use: "advisory"/"注意報" = 2, "warning"/"警報"/"高齢者等避難" = 3, "evacuate"/"避難指示" = 4,
  "emergency"/"特別警報"/"緊急安全確保" = 5, and "警戒レベル4" or "level 4" likewise.
  For a blackout the caller picks the level (e.g. 4 for a wide, long outage); real outages are
  better posted to the outage adapter (``/api/v1/outages``), which judges them on hours.
- tsunami: 3 津波注意報, 4 津波警報, 5 大津波警報 (1 津波予報, 0 none), as the bulletins map them.
  With hazard ``tsunami`` the words are read on that scale: "津波警報", "警報" and "warning" are 4,
  "大津波警報" and "major_warning" 5, "津波注意報", "注意報" and "advisory" 3.
- The names JMA gives its warnings are accepted whole: 「大雨特別警報」 5, 「大雨警報」「洪水警報」 3,
  「大雨注意報」「高潮注意報」 2, 「土砂災害警戒情報」「氾濫危険情報」 4 (the 警戒レベル each stands for).
  A tsunami name with another hazard is refused (the event is probably filed under the wrong hazard).
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
import unicodedata
from collections.abc import Collection, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from bcp_service.intensity import Intensity
from bcp_service.labels import HAZARD_LABELS
from bcp_service.triggers.areas import AREA_MUNICIPALITIES, WARD_TO_CITY, municipalities_for_area
from bcp_service.triggers.codes import map_jma_city_code, normalise_municipality_code
from bcp_service.triggers.jma import JmaBulletin


class Hazard(enum.StrEnum):
    EARTHQUAKE = "earthquake"
    TYPHOON = "typhoon"
    HEAVY_RAIN = "heavy_rain"
    BLACKOUT = "blackout"
    TSUNAMI = "tsunami"
    FLOOD = "flood"
    LANDSLIDE = "landslide"
    STORM_SURGE = "storm_surge"
    OTHER = "other"


class EventStatus(enum.StrEnum):
    NORMAL = "normal"
    DRILL = "drill"
    TEST = "test"


class InfoType(enum.StrEnum):
    ISSUE = "issue"
    CORRECTION = "correction"
    CANCEL = "cancel"


_JMA_STATUS = {"通常": EventStatus.NORMAL, "訓練": EventStatus.DRILL, "試験": EventStatus.TEST}
_JMA_INFO_TYPE = {"発表": InfoType.ISSUE, "訂正": InfoType.CORRECTION, "取消": InfoType.CANCEL}

_LEVEL_WORDS = {
    "advisory": 2,
    "注意報": 2,
    "warning": 3,
    "警報": 3,
    "高齢者等避難": 3,
    "elderly_evacuation": 3,
    "evacuate": 4,
    "避難指示": 4,
    "emergency": 5,
    "特別警報": 5,
    "緊急安全確保": 5,
}
# The Agency's warning names and the 警戒レベル each stands for (jma_warnings reads bulletins with it;
# the JSON trigger accepts the same names as a severity).
WARNING_KINDS: dict[str, tuple[Hazard, int]] = {
    "大雨特別警報": (Hazard.HEAVY_RAIN, 5),
    "大雨警報": (Hazard.HEAVY_RAIN, 3),
    "大雨注意報": (Hazard.HEAVY_RAIN, 2),
    "洪水警報": (Hazard.FLOOD, 3),
    "洪水注意報": (Hazard.FLOOD, 2),
    "高潮特別警報": (Hazard.STORM_SURGE, 4),
    "高潮警報": (Hazard.STORM_SURGE, 4),
    "高潮注意報": (Hazard.STORM_SURGE, 2),
    "警戒": (Hazard.LANDSLIDE, 4),  # VXWW50
}

_LEVEL_WORDS.update(
    {
        "土砂災害警戒情報": 4,
        "氾濫注意情報": 2,
        "氾濫警戒情報": 3,
        "氾濫危険情報": 4,
        "氾濫発生情報": 5,
        "記録的短時間大雨情報": 4,
    }
)
_TSUNAMI_WORDS = {
    "津波予報": 1,
    "津波注意報": 3,
    "津波警報": 4,
    "大津波警報": 5,
    "注意報": 3,
    "警報": 4,
    "特別警報": 5,
    "advisory": 3,
    "warning": 4,
    "major_warning": 5,
    "major warning": 5,
}
# JMA's phenomenon names before 注意報 / 警報 / 特別警報 (「大雨特別警報」 is 特別警報 for heavy rain).
_PHENOMENON = re.compile(
    r"^(?:大雨|洪水|高潮|暴風雪|暴風|大雪|波浪|強風|風雪|雷|乾燥|濃霧|なだれ|融雪|着氷|着雪|霜|低温)"
    r"(?=(?:特別)?(?:警報|注意報)$)"
)
_LEVEL_PATTERN = re.compile(r"^(?:警戒レベル|レベル|level)?\s*([1-5])$")


def parse_level(value: Any, hazard: Hazard | None = None) -> int:
    """Read a non-earthquake severity (see the module docstring) as a level 1..5."""
    if isinstance(value, bool):
        raise ValueError(f"severity must be a level 1-5 or a word such as 'warning', got {value!r}")
    if isinstance(value, int):
        if 1 <= value <= 5:
            return value
        raise ValueError(f"severity level must be between 1 and 5, got {value}")
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip().lower()
        if hazard is Hazard.TSUNAMI and text in _TSUNAMI_WORDS:
            return _TSUNAMI_WORDS[text]
        if "津波" in text:
            raise ValueError(
                f"severity '{value}' is a tsunami level: use hazard 'tsunami' (津波の警報・注意報は hazard を tsunami に)"
            )
        if text in WARNING_KINDS and text != "警戒":
            return WARNING_KINDS[text][1]
        text = _PHENOMENON.sub("", text)
        if text in _LEVEL_WORDS:
            return _LEVEL_WORDS[text]
        match = _LEVEL_PATTERN.match(text)
        if match:
            return int(match.group(1))
    raise ValueError(
        f"severity '{value}' is not understood; use a level 1-5 or one of "
        "advisory, warning, evacuate, emergency (注意報, 警報, 避難指示, 特別警報, 大雨警報, 津波警報 …)"
    )


def severity_label(hazard: Hazard, rank: int) -> str:
    """How a severity rank reads for a prefecture officer."""
    if rank <= 0:
        return "なし"
    if hazard is Hazard.EARTHQUAKE:
        return Intensity.from_rank(rank).label_ja
    if hazard is Hazard.TSUNAMI:
        return {1: "津波予報", 2: "津波予報", 3: "津波注意報", 4: "津波警報", 5: "大津波警報"}.get(
            rank, f"レベル{rank}"
        )
    if hazard is Hazard.BLACKOUT:
        return {2: "停電", 4: "長時間停電"}.get(rank, f"停電レベル{rank}")
    return f"警戒レベル{rank}"


class JsonTriggerEvent(BaseModel):
    """Body of `POST /api/v1/triggers` for an event that is not a JMA XML bulletin."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    hazard: Hazard
    municipalities: list[str] = Field(
        default_factory=list,
        description="6-digit 全国地方公共団体コード, or its first 5 digits (the check digit is added)",
    )
    severity: Annotated[
        Intensity | int | None,
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string"},
                    {"type": "integer", "minimum": 1, "maximum": 5},
                    {"type": "null"},
                ],
                "examples": ["5-", "5弱", "震度6強", 4, "warning"],
            }
        ),
    ] = Field(
        default=None,
        description="earthquake: JMA intensity such as '5-' or '5弱'; otherwise level 1-5 or a word",
    )
    event_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:\-]+$",
        description="the sender's id; derived from the content when missing",
    )
    status: EventStatus = EventStatus.NORMAL
    info_type: InfoType = InfoType.ISSUE
    occurred_at: AwareDatetime
    title: str | None = Field(default=None, max_length=200)

    @field_validator("municipalities", mode="before")
    @classmethod
    def _normalise_municipalities(cls, value: Any) -> list[str]:
        if not isinstance(value, list):
            raise ValueError("municipalities must be a list of municipality codes")
        codes: list[str] = []
        problems: list[str] = []
        for index, item in enumerate(value):
            try:
                code = normalise_municipality_code(item)
            except ValueError as exc:
                problems.append(f"item {index}: {exc}")
                continue
            if code not in codes:
                codes.append(code)
        if problems:
            raise ValueError("; ".join(problems))
        return codes

    @field_validator("severity", mode="before")
    @classmethod
    def _parse_severity(cls, value: Any, info: ValidationInfo) -> Intensity | int | None:
        if value is None:
            return None
        hazard = info.data.get("hazard")
        if hazard is None:
            # The hazard error is already reported; a second message here would only confuse.
            return None
        if hazard is Hazard.EARTHQUAKE:
            return Intensity.parse(value)
        return parse_level(value, hazard)

    @model_validator(mode="after")
    def _complete(self) -> JsonTriggerEvent:
        if self.info_type is not InfoType.CANCEL:
            if not self.municipalities:
                raise ValueError("municipalities must name at least one municipality")
            if self.severity is None:
                raise ValueError("severity is required unless info_type is 'cancel'")
        if self.event_id is None:
            if self.info_type is not InfoType.ISSUE:
                raise ValueError(f"a {self.info_type.value} must carry the event_id of the event it refers to")
            self.event_id = self._content_id()
        return self

    def _content_id(self) -> str:
        # Same content, same id: a sender that retries a POST must not start a second round.
        canonical = json.dumps(
            {
                "hazard": self.hazard.value,
                "municipalities": sorted(self.municipalities),
                "severity": str(self.severity),
                "occurred_at": self.occurred_at.isoformat(),
            },
            sort_keys=True,
        )
        return "json-" + hashlib.sha256(canonical.encode()).hexdigest()[:20]

    @property
    def severity_rank(self) -> int:
        if self.severity is None:
            return 0
        if isinstance(self.severity, Intensity):
            return self.severity.rank
        return self.severity


class TriggerEvent(BaseModel):
    """One outside event, whatever its source, in the form the guards decide on."""

    model_config = ConfigDict(frozen=True)

    source: Literal["jma_xml", "json", "outage"]
    event_id: str
    status: EventStatus
    info_type: InfoType
    hazard: Hazard
    severity: int = Field(description="max rank over the event: intensity 1-9 or level 1-5; 0 = none")
    municipality_severity: dict[str, int] = Field(description="our 6-digit municipality code → severity rank there")
    reported_at: AwareDatetime
    occurred_at: AwareDatetime | None = None
    title: str
    unmatched_codes: tuple[str, ...] = Field(
        default=(), description="area or city codes in the bulletin that match none of ours"
    )

    @property
    def severity_label(self) -> str:
        return severity_label(self.hazard, self.severity)

    @property
    def local_severity(self) -> int:
        """Strongest severity in our municipalities; a bulletin's maximum may lie elsewhere."""
        return max(self.municipality_severity.values(), default=0)


def trigger_event_from_json(event: JsonTriggerEvent) -> TriggerEvent:
    rank = event.severity_rank
    return TriggerEvent(
        source="json",
        event_id=event.event_id or event._content_id(),
        status=event.status,
        info_type=event.info_type,
        hazard=event.hazard,
        severity=rank,
        municipality_severity=dict.fromkeys(event.municipalities, rank) if rank else {},
        reported_at=event.occurred_at,
        occurred_at=event.occurred_at,
        title=event.title or HAZARD_LABELS[event.hazard.value],  # shown on pages and the answer page
    )


def trigger_event_from_jma(
    bulletin: JmaBulletin,
    *,
    known_municipalities: Collection[str],
    ward_to_city: Mapping[str, str] = WARD_TO_CITY,
    area_table: Mapping[str, tuple[str, ...]] = AREA_MUNICIPALITIES,
) -> TriggerEvent:
    """Map a bulletin's cities (VXSE53) or areas (VXSE51) to our municipalities.

    Cities are preferred whenever the bulletin lists them, because an area covers every
    municipality in it, including ones where nobody felt more than a 4.
    """
    known = set(known_municipalities)
    severity: dict[str, int] = {}
    unmatched: list[str] = []
    if bulletin.cities:
        for city in bulletin.cities:
            ours = map_jma_city_code(city.code, known, ward_to_city)
            if ours is None:
                unmatched.append(city.code)
                continue
            # A city reported by ward takes its strongest ward.
            severity[ours] = max(severity.get(ours, 0), city.max_intensity.rank)
    else:
        for area in bulletin.areas:
            members = municipalities_for_area(area.code, known, area_table)
            if not members:
                unmatched.append(area.code)
            for code in members:
                severity[code] = max(severity.get(code, 0), area.max_intensity.rank)
    overall = bulletin.max_intensity.rank if bulletin.max_intensity else 0
    return TriggerEvent(
        source="jma_xml",
        event_id=bulletin.event_id,
        status=_JMA_STATUS[bulletin.status],
        info_type=_JMA_INFO_TYPE[bulletin.info_type],
        hazard=Hazard.EARTHQUAKE,
        severity=max([overall, *severity.values()]),
        municipality_severity=severity,
        reported_at=bulletin.report_datetime,
        occurred_at=bulletin.origin_time or bulletin.target_datetime,
        title=bulletin.head_title,
        unmatched_codes=tuple(dict.fromkeys(unmatched)),
    )
