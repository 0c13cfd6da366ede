"""Weather warnings and tsunami bulletins in 気象庁防災情報XML, read into trigger events.

- VPWW54 気象警報・注意報（Ｈ２７） and VPWW53 気象特別警報・警報・注意報: per municipality (7-digit
  codes in ``Warning[@type=気象警報・注意報（市町村等）]``), each Kind with Status 発表/継続/解除.
- VXWW50 土砂災害警戒情報 (from 2026 headed レベル４土砂災害危険警報): Kind 警戒 per municipality.
- VTSE41 津波警報・注意報・予報a and VTSE51 津波情報a: per 津波予報区, mapped to coastal municipalities.

Levels follow the Cabinet Office's 警戒レベル as the Agency relates its products to them:
注意報 2; 大雨警報・洪水警報 3 (高齢者等避難, the cue for people at home on devices);
土砂災害警戒情報 and 高潮警報 4; 大雨特別警報 5 (高潮特別警報 4). A Kind named with its level, as the
Agency's new names are (レベル３…警報), takes that level. Tsunami: 津波注意報 3, 津波警報 4,
大津波警報 5, 津波予報 1.

One bulletin can carry several hazards (大雨 in one town, 洪水 in another): it becomes one trigger
event per hazard, each judged on its own threshold. Only items whose Status is 発表 count: a
warning 継続 (still in force) was judged when it was issued, and a new round for every repeat of
the same warning is what the aftershock window exists to prevent anyway.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from xml.etree.ElementTree import Element

from bcp_service.triggers.areas import TSUNAMI_AREA_MUNICIPALITIES, WARD_TO_CITY
from bcp_service.triggers.codes import map_jma_city_code
from bcp_service.triggers.events import _JMA_INFO_TYPE, _JMA_STATUS, WARNING_KINDS, Hazard, TriggerEvent
from bcp_service.triggers.jma import (
    NS_HEAD,
    NS_REPORT,
    NS_SEIS,
    JmaParseError,
    _q,
    _required,
    _text,
    read_info_type_and_time,
    read_status,
)

NS_MET = "http://xml.kishou.go.jp/jmaxml1/body/meteorology1/"

WEATHER_TYPES = {
    "気象警報・注意報（Ｈ２７）": "VPWW54",
    "気象特別警報・警報・注意報": "VPWW53",
    "土砂災害警戒情報": "VXWW50",
}
TSUNAMI_TYPES = {"津波警報・注意報・予報a": "VTSE41", "津波情報a": "VTSE51"}
MUNICIPAL_WARNING = "気象警報・注意報（市町村等）"

# The Agency's new names carry the level: レベル３氾濫警報, レベル４土砂災害危険警報 ...
_LEVEL_NAME = re.compile(r"^レベル([1-5])(.*)$")
_NEW_NAME_HAZARDS = (
    ("土砂", Hazard.LANDSLIDE),
    ("氾濫", Hazard.FLOOD),
    ("高潮", Hazard.STORM_SURGE),
    ("大雨", Hazard.HEAVY_RAIN),
)

TSUNAMI_LEVELS = {"52": 5, "53": 5, "51": 4, "62": 3, "71": 1, "72": 1, "73": 1}
"""警報等情報要素／津波警報・注意報・予報 Kind code → level; others (解除 50/60, なし 00) are 0."""


@dataclass(frozen=True)
class HazardBulletin:
    kind: str
    control_title: str
    head_title: str
    status: str
    info_type: str
    event_id: str | None
    report_datetime: datetime
    levels: dict[Hazard, dict[str, int]] = field(default_factory=dict)
    """hazard → the Agency's area code (7-digit city, or 津波予報区) → level issued there."""


def is_hazard_bulletin(control_title: str) -> bool:
    return control_title in WEATHER_TYPES or control_title in TSUNAMI_TYPES


def kind_level(name: str) -> tuple[Hazard, int] | None:
    text = unicodedata.normalize("NFKC", name).strip()
    if text in WARNING_KINDS:
        return WARNING_KINDS[text]
    match = _LEVEL_NAME.match(text)
    if match:
        for word, hazard in _NEW_NAME_HAZARDS:
            if word in match.group(2):
                return hazard, int(match.group(1))
    return None


def parse_hazard_bulletin(root: Element) -> HazardBulletin:
    control = root.find(_q(NS_REPORT, "Control"))
    head = root.find(_q(NS_HEAD, "Head"))
    if control is None or head is None:
        raise JmaParseError("JMA bulletin has no Control or Head element")
    control_title = _required(control, NS_REPORT, "Control", "Title")
    kind = WEATHER_TYPES.get(control_title) or TSUNAMI_TYPES.get(control_title)
    if kind is None:
        raise JmaParseError(f"unsupported bulletin type '{control_title}'")
    status = read_status(control)
    info_type, reported = read_info_type_and_time(head)
    levels = _tsunami_levels(root) if kind in ("VTSE41", "VTSE51") else _weather_levels(root)
    return HazardBulletin(
        kind=kind,
        control_title=control_title,
        head_title=_text(head, NS_HEAD, "Title") or control_title,
        status=status,
        info_type=info_type,
        event_id=_text(head, NS_HEAD, "EventID"),
        report_datetime=reported,
        levels=levels,
    )


def _weather_levels(root: Element) -> dict[Hazard, dict[str, int]]:
    body = root.find(_q(NS_MET, "Body"))
    levels: dict[Hazard, dict[str, int]] = {}
    if body is None:
        return levels
    for warning in body.findall(_q(NS_MET, "Warning")):
        if warning.get("type") not in (MUNICIPAL_WARNING, "土砂災害警戒情報"):
            continue
        for item in warning.findall(_q(NS_MET, "Item")):
            code = _text(item.find(_q(NS_MET, "Area")), NS_MET, "Code")
            if code is None:
                continue
            for kind in item.findall(_q(NS_MET, "Kind")):
                name = _text(kind, NS_MET, "Name")
                if name is None or _text(kind, NS_MET, "Status") != "発表":
                    continue
                found = kind_level(name)
                if found is None:
                    continue
                hazard, level = found
                by_area = levels.setdefault(hazard, {})
                by_area[code] = max(by_area.get(code, 0), level)
    return levels


def _tsunami_levels(root: Element) -> dict[Hazard, dict[str, int]]:
    forecast = root.find(f"{_q(NS_SEIS, 'Body')}/{_q(NS_SEIS, 'Tsunami')}/{_q(NS_SEIS, 'Forecast')}")
    by_area: dict[str, int] = {}
    if forecast is not None:
        for item in forecast.findall(_q(NS_SEIS, "Item")):
            code = _text(item.find(_q(NS_SEIS, "Area")), NS_SEIS, "Code")
            kind = item.find(f"{_q(NS_SEIS, 'Category')}/{_q(NS_SEIS, 'Kind')}")
            kind_code = _text(kind, NS_SEIS, "Code")
            if code is None or kind_code is None:
                continue
            by_area[code] = max(by_area.get(code, 0), TSUNAMI_LEVELS.get(kind_code, 0))
    return {Hazard.TSUNAMI: by_area}


def hazard_events(bulletin: HazardBulletin, *, known_municipalities: Collection[str]) -> list[TriggerEvent]:
    """One trigger event per hazard in the bulletin (a cancellation: one per hazard it could cancel)."""
    known = set(known_municipalities)
    tsunami = bulletin.kind in ("VTSE41", "VTSE51")
    # Nothing issued (only 継続 or 解除): still one event, so the decision says why nothing starts.
    fallback = Hazard.TSUNAMI if tsunami else Hazard.LANDSLIDE if bulletin.kind == "VXWW50" else Hazard.HEAVY_RAIN
    hazards = list(bulletin.levels) or [fallback]
    events = []
    for hazard in hazards:
        severity: dict[str, int] = {}
        unmatched: list[str] = []
        for area, level in bulletin.levels.get(hazard, {}).items():
            if tsunami:
                members = [code for code in TSUNAMI_AREA_MUNICIPALITIES.get(area, ()) if code in known]
            else:
                ours = map_jma_city_code(area, known, WARD_TO_CITY)
                members = [ours] if ours else []
            if not members:
                unmatched.append(area)
            for code in members:
                if level:
                    severity[code] = max(severity.get(code, 0), level)
        events.append(
            TriggerEvent(
                source="jma_xml",
                event_id=_event_id(bulletin, hazard),
                status=_JMA_STATUS[bulletin.status],
                info_type=_JMA_INFO_TYPE[bulletin.info_type],
                hazard=hazard,
                severity=max(severity.values(), default=0),
                municipality_severity=severity,
                reported_at=bulletin.report_datetime,
                occurred_at=bulletin.report_datetime,
                title=bulletin.head_title,
                unmatched_codes=tuple(dict.fromkeys(unmatched)),
            )
        )
    return events


def _event_id(bulletin: HazardBulletin, hazard: Hazard) -> str:
    """Tsunami: the quake's EventID (so 取消 finds it), apart from the quake's own records.

    Warnings have no EventID (VPWW) or a title as one (VXWW50): each bulletin is its own event,
    and repeats of a warning are held back by the recent-event window.
    """
    if hazard is Hazard.TSUNAMI and bulletin.event_id:
        return f"tsunami-{bulletin.event_id}"[:64]
    office = hashlib.sha256(bulletin.head_title.encode()).hexdigest()[:10]
    return f"{bulletin.kind}-{hazard.value}-{office}-{bulletin.report_datetime:%Y%m%d%H%M}"
