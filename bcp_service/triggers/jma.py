"""Parser for the Agency's earthquake bulletins in 気象庁防災情報XML.

Two bulletin types can start a round:

- VXSE51 震度速報, about 90 seconds after a quake: intensity by seismic area (細分区域) only.
- VXSE53 震源・震度に関する情報, a few minutes later: hypocentre, magnitude, and intensity by
  prefecture, area, city and station. The same message type also carries 遠地地震に関する情報,
  which has no domestic intensity at all.

Bulletins arrive from outside, so the XML is read with defusedxml (no DTDs, no entities) and
every element that the guards depend on is checked, with an error that names what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException

from bcp_service.intensity import Intensity

NS_REPORT = "http://xml.kishou.go.jp/jmaxml1/"
NS_HEAD = "http://xml.kishou.go.jp/jmaxml1/informationBasis1/"
NS_SEIS = "http://xml.kishou.go.jp/jmaxml1/body/seismology1/"
NS_ELEMENT = "http://xml.kishou.go.jp/jmaxml1/elementBasis1/"

# The largest real VXSE53 bulletins (great quakes, thousands of stations) stay well under this.
MAX_BULLETIN_BYTES = 5 * 1024 * 1024

BULLETIN_TYPES: dict[str, Literal["VXSE51", "VXSE53"]] = {
    "震度速報": "VXSE51",
    "震源・震度に関する情報": "VXSE53",
}
STATUSES = ("通常", "訓練", "試験")
INFO_TYPES = ("発表", "訂正", "取消")

# A city whose stations sent ≥5弱 alerts but no value yet; the Agency writes it in full width.
UNREPORTED_5_LOWER = "震度５弱以上未入電"


class JmaParseError(ValueError):
    """The input is not a usable VXSE51/VXSE53 bulletin; the message says what to fix."""


class JmaArea(NamedTuple):
    code: str
    name: str
    max_intensity: Intensity


class JmaCity(NamedTuple):
    code: str
    name: str
    max_intensity: Intensity


@dataclass(frozen=True)
class JmaBulletin:
    kind: Literal["VXSE51", "VXSE53"]
    control_title: str
    head_title: str
    status: str
    info_type: str
    info_kind: str
    event_id: str
    serial: str | None
    report_datetime: datetime
    target_datetime: datetime | None
    origin_time: datetime | None
    hypocenter_name: str | None
    magnitude: float | None
    max_intensity: Intensity | None
    areas: tuple[JmaArea, ...]
    cities: tuple[JmaCity, ...]
    unreported_city_codes: tuple[str, ...]
    """Cities listed as 震度５弱以上未入電; their intensity is recorded as the lower bound 5-."""
    headline: str | None
    text: str | None


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _text(parent: Element | None, ns: str, tag: str) -> str | None:
    if parent is None:
        return None
    element = parent.find(_q(ns, tag))
    if element is None or element.text is None:
        return None
    value = element.text.strip()
    return value or None


def _required(parent: Element | None, ns: str, path: str, tag: str) -> str:
    value = _text(parent, ns, tag)
    if value is None:
        raise JmaParseError(f"JMA bulletin has no {path}/{tag}; the element is required in VXSE51/VXSE53")
    return value


def _datetime(value: str | None, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise JmaParseError(f"{where} '{value}' is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise JmaParseError(f"{where} '{value}' has no UTC offset; JMA writes e.g. +09:00")
    return parsed


def _intensity(value: str, where: str) -> Intensity:
    try:
        return Intensity.parse(value)
    except ValueError:
        raise JmaParseError(f"{where} has MaxInt '{value}', which is not a JMA intensity") from None


def read_report_root(data: bytes) -> Element:
    """The bulletin's Report element, read safely, or JmaParseError saying what is wrong."""
    if not data or not data.strip():
        raise JmaParseError("the bulletin is empty; expected a JMA XML document")
    if len(data) > MAX_BULLETIN_BYTES:
        raise JmaParseError(f"the bulletin is {len(data)} bytes, over the {MAX_BULLETIN_BYTES}-byte limit")
    try:
        root = DefusedET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise JmaParseError(
            f"the XML uses a DTD or entity declarations ({type(exc).__name__}), which JMA "
            "bulletins never do; refused as a possible XML bomb or external-entity attack"
        ) from None
    except ParseError as exc:
        raise JmaParseError(f"the bulletin is not well-formed XML: {exc}") from None

    if root.tag == "Report":
        raise JmaParseError(f'root element Report has no namespace; JMA bulletins declare xmlns="{NS_REPORT}"')
    if root.tag != _q(NS_REPORT, "Report"):
        raise JmaParseError(f"root element is '{root.tag}'; expected Report in namespace {NS_REPORT}")
    return root


def read_status(control: Element) -> str:
    status = _required(control, NS_REPORT, "Control", "Status")
    if status not in STATUSES:
        raise JmaParseError(f"Control/Status '{status}' is not one of {', '.join(STATUSES)}")
    return status


def read_info_type_and_time(head: Element) -> tuple[str, datetime]:
    info_type = _required(head, NS_HEAD, "Head", "InfoType")
    if info_type not in INFO_TYPES:
        raise JmaParseError(f"Head/InfoType '{info_type}' is not one of {', '.join(INFO_TYPES)}")
    reported = _datetime(_text(head, NS_HEAD, "ReportDateTime"), "Head/ReportDateTime")
    if reported is None:
        raise JmaParseError("JMA bulletin has no Head/ReportDateTime")
    return info_type, reported


def control_title_of(root: Element) -> str:
    return _required(root.find(_q(NS_REPORT, "Control")), NS_REPORT, "Control", "Title")


def parse_jma_bulletin(data: bytes | Element) -> JmaBulletin:
    """Parse a VXSE51 or VXSE53 bulletin (bytes, or a root read by read_report_root), or raise JmaParseError."""
    root = data if isinstance(data, Element) else read_report_root(data)
    control = root.find(_q(NS_REPORT, "Control"))
    head = root.find(_q(NS_HEAD, "Head"))
    body = root.find(_q(NS_SEIS, "Body"))
    if control is None:
        raise JmaParseError(f"JMA bulletin has no Control element (namespace {NS_REPORT})")
    if head is None:
        raise JmaParseError(f"JMA bulletin has no Head element (namespace {NS_HEAD})")

    control_title = _required(control, NS_REPORT, "Control", "Title")
    kind = BULLETIN_TYPES.get(control_title)
    if kind is None:
        accepted = ", ".join(f"{title} ({code})" for title, code in BULLETIN_TYPES.items())
        raise JmaParseError(f"unsupported bulletin type '{control_title}'; accepted: {accepted}")
    status = read_status(control)

    event_id = _text(head, NS_HEAD, "EventID")
    if event_id is None:
        raise JmaParseError(
            "JMA bulletin has no Head/EventID; it is what ties corrections, cancellations and "
            "repeats to one earthquake, so the bulletin cannot be used without it"
        )
    info_type, report_datetime = read_info_type_and_time(head)
    target_datetime = _datetime(_text(head, NS_HEAD, "TargetDateTime"), "Head/TargetDateTime")
    headline = _text(head.find(_q(NS_HEAD, "Headline")), NS_HEAD, "Text")

    if body is None:
        if info_type != "取消":
            raise JmaParseError(f"JMA bulletin has no Body element (namespace {NS_SEIS})")
        body = Element(_q(NS_SEIS, "Body"))

    origin_time, hypocenter_name, magnitude = _earthquake(body)
    max_intensity, areas, cities, unreported = _observation(body, kind)
    if info_type != "取消" and kind == "VXSE51" and not areas:
        raise JmaParseError("震度速報 (VXSE51) has no Body/Intensity/Observation/Pref/Area")

    return JmaBulletin(
        kind=kind,
        control_title=control_title,
        head_title=_text(head, NS_HEAD, "Title") or control_title,
        status=status,
        info_type=info_type,
        info_kind=_text(head, NS_HEAD, "InfoKind") or "",
        event_id=event_id,
        serial=_text(head, NS_HEAD, "Serial"),
        report_datetime=report_datetime,
        target_datetime=target_datetime,
        origin_time=origin_time,
        hypocenter_name=hypocenter_name,
        magnitude=magnitude,
        max_intensity=max_intensity,
        areas=areas,
        cities=cities,
        unreported_city_codes=unreported,
        headline=headline,
        text=_text(body, NS_SEIS, "Text"),
    )


def _earthquake(body: Element) -> tuple[datetime | None, str | None, float | None]:
    quake = body.find(_q(NS_SEIS, "Earthquake"))
    if quake is None:
        return None, None, None
    origin = _datetime(_text(quake, NS_SEIS, "OriginTime"), "Earthquake/OriginTime")
    hypocenter_area = quake.find(f"{_q(NS_SEIS, 'Hypocenter')}/{_q(NS_SEIS, 'Area')}")
    name = _text(hypocenter_area, NS_SEIS, "Name")
    magnitude: float | None = None
    raw = _text(quake, NS_ELEMENT, "Magnitude")
    # "NaN" with condition="不明" (or "M8を超える巨大地震") is how the Agency says it has no value yet.
    if raw is not None and raw.lower() != "nan":
        try:
            magnitude = float(raw)
        except ValueError:
            raise JmaParseError(f"Earthquake/Magnitude '{raw}' is not a number") from None
    return origin, name, magnitude


def _observation(
    body: Element, kind: str
) -> tuple[Intensity | None, tuple[JmaArea, ...], tuple[JmaCity, ...], tuple[str, ...]]:
    observation = body.find(f"{_q(NS_SEIS, 'Intensity')}/{_q(NS_SEIS, 'Observation')}")
    if observation is None:
        return None, (), (), ()
    areas: list[JmaArea] = []
    cities: list[JmaCity] = []
    unreported: list[str] = []
    for pref in observation.findall(_q(NS_SEIS, "Pref")):
        pref_name = _text(pref, NS_SEIS, "Name") or "?"
        for area in pref.findall(_q(NS_SEIS, "Area")):
            area_name = _required(area, NS_SEIS, f"Pref({pref_name})/Area", "Name")
            area_code = _required(area, NS_SEIS, f"Pref({pref_name})/Area({area_name})", "Code")
            area_cities = [_city(city, area_name, unreported) for city in area.findall(_q(NS_SEIS, "City"))]
            cities.extend(area_cities)
            raw = _text(area, NS_SEIS, "MaxInt")
            if raw is not None:
                area_max = _intensity(raw, f"Area {area_name}")
            elif area_cities:
                area_max = max(city.max_intensity for city in area_cities)
            else:
                raise JmaParseError(f"Area {area_name} ({area_code}) has no MaxInt and no City")
            areas.append(JmaArea(area_code, area_name, area_max))
    raw_max = _text(observation, NS_SEIS, "MaxInt")
    if raw_max is not None:
        max_intensity: Intensity | None = _intensity(raw_max, "Observation")
    else:
        max_intensity = max((area.max_intensity for area in areas), default=None)
    if kind == "VXSE51" and cities:
        raise JmaParseError("震度速報 (VXSE51) must not list cities; is Control/Title wrong?")
    return max_intensity, tuple(areas), tuple(cities), tuple(unreported)


def _city(city: Element, area_name: str, unreported: list[str]) -> JmaCity:
    name = _required(city, NS_SEIS, f"Area({area_name})/City", "Name")
    code = _required(city, NS_SEIS, f"Area({area_name})/City({name})", "Code")
    if len(code) != 7 or not code.isascii() or not code.isdigit():
        raise JmaParseError(f"City {name} has code '{code}'; JMA city codes have 7 digits")
    raw = _text(city, NS_SEIS, "MaxInt")
    observed = _intensity(raw, f"City {name}") if raw is not None else None
    if _text(city, NS_SEIS, "Condition") == UNREPORTED_5_LOWER:
        unreported.append(code)
        # 5弱以上 is a lower bound; treating it as 5- lets the threshold act on it at once.
        floor = Intensity.FIVE_LOWER
        return JmaCity(code, name, floor if observed is None else max(observed, floor))
    if observed is None:
        raise JmaParseError(f"City {name} ({code}) has neither MaxInt nor Condition")
    return JmaCity(code, name, observed)
