import pytest
from pydantic import ValidationError

from bcp_service.intensity import Intensity
from bcp_service.triggers.areas import AREA_MUNICIPALITIES, CHIBA_MUNICIPALITIES
from bcp_service.triggers.events import (
    EventStatus,
    Hazard,
    InfoType,
    JsonTriggerEvent,
    parse_level,
    severity_label,
    trigger_event_from_jma,
    trigger_event_from_json,
)
from tests.triggers.helpers import (
    CHIBA,
    CHOSHI,
    FUNABASHI,
    ICHIKAWA,
    INZAI,
    MATSUDO,
    NARITA,
    TATEYAMA,
    load_bulletin,
    load_event,
)

QUAKE = {
    "hazard": "earthquake",
    "municipalities": ["12100", "122041"],
    "severity": "5弱",
    "occurred_at": "2025-03-01T10:15:00+09:00",
}


def _errors(payload: dict) -> str:
    with pytest.raises(ValidationError) as caught:
        JsonTriggerEvent.model_validate(payload)
    return str(caught.value)


def test_json_event_normalises_codes_and_severity():
    event = JsonTriggerEvent.model_validate(QUAKE)
    assert event.municipalities == ["121002", "122041"]
    assert event.severity is Intensity.FIVE_LOWER
    assert event.status is EventStatus.NORMAL
    assert event.info_type is InfoType.ISSUE
    assert event.event_id.startswith("json-")


def test_json_event_id_is_derived_from_content():
    first = JsonTriggerEvent.model_validate(QUAKE)
    again = JsonTriggerEvent.model_validate({**QUAKE, "municipalities": ["122041", "121002", "12100"]})
    other = JsonTriggerEvent.model_validate({**QUAKE, "severity": "5強"})
    assert first.event_id == again.event_id
    assert first.event_id != other.event_id
    assert JsonTriggerEvent.model_validate({**QUAKE, "event_id": "pref-001"}).event_id == "pref-001"


def test_bad_check_digit_names_the_item():
    message = _errors({**QUAKE, "municipalities": ["121002", "122026", "99"]})
    assert "item 1: municipality code '122026' has check digit 6 but 5 was expected" in message
    assert "item 2: municipality code '99' has 2 digits" in message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hazard": "volcano"}, "hazard"),
        ({"severity": "5"}, "ambiguous: say 5- (5弱) or 5+ (5強)"),
        ({"severity": "warning"}, "'warning' is not a JMA seismic intensity"),
        ({"severity": None}, "severity is required unless info_type is 'cancel'"),
        ({"municipalities": []}, "must name at least one municipality"),
        ({"municipalities": "121002"}, "must be a list"),
        ({"occurred_at": "2025-03-01T10:15:00"}, "timezone"),
        ({"status": "exercise"}, "status"),
        ({"event_id": "a b"}, "event_id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_json_event_validation_errors(change, message):
    assert message in _errors({**QUAKE, **change})


@pytest.mark.parametrize("info_type", ["correction", "cancel"])
def test_correction_and_cancel_must_name_the_event(info_type):
    assert "must carry the event_id" in _errors({**QUAKE, "info_type": info_type})


def test_cancel_needs_only_the_event_id():
    event = JsonTriggerEvent.model_validate(
        {
            "hazard": "earthquake",
            "info_type": "cancel",
            "event_id": "pref-001",
            "occurred_at": "2025-03-01T10:15:00+09:00",
        }
    )
    trigger = trigger_event_from_json(event)
    assert trigger.info_type is InfoType.CANCEL
    assert trigger.municipality_severity == {}


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        (3, 3),
        ("4", 4),
        ("警戒レベル5", 5),
        ("level 2", 2),
        ("warning", 3),
        ("警報", 3),
        ("避難指示", 4),
        ("特別警報", 5),
        ("emergency", 5),
    ],
)
def test_non_earthquake_severity_is_a_level(severity, level):
    event = JsonTriggerEvent.model_validate(
        {
            "hazard": "typhoon",
            "municipalities": ["122050"],
            "severity": severity,
            "occurred_at": "2025-09-01T06:00:00+09:00",
        }
    )
    assert event.severity == level
    assert trigger_event_from_json(event).municipality_severity == {TATEYAMA: level}


@pytest.mark.parametrize("severity", [0, 6, "5弱", "red", True])
def test_non_earthquake_severity_out_of_range(severity):
    with pytest.raises(ValueError):
        parse_level(severity)


def test_severity_labels():
    assert severity_label(Hazard.EARTHQUAKE, Intensity.FIVE_LOWER.rank) == "震度5弱"
    assert severity_label(Hazard.FLOOD, 4) == "警戒レベル4"
    assert severity_label(Hazard.BLACKOUT, 0) == "なし"


def test_trigger_event_from_json():
    event = JsonTriggerEvent.model_validate({**QUAKE, "status": "drill", "title": "県訓練"})
    trigger = trigger_event_from_json(event)
    assert trigger.source == "json"
    assert trigger.hazard is Hazard.EARTHQUAKE
    assert trigger.status is EventStatus.DRILL
    assert trigger.severity == Intensity.FIVE_LOWER.rank
    assert trigger.municipality_severity == {CHIBA: 5, FUNABASHI: 5}
    assert trigger.severity_label == "震度5弱"
    assert trigger.title == "県訓練"


def test_vxse51_maps_areas_to_all_their_municipalities():
    trigger = load_event("vxse51_chiba_5lower.xml")
    assert trigger.source == "jma_xml"
    assert trigger.event_id == "20250301101512"
    northwest = set(AREA_MUNICIPALITIES["341"])
    northeast = set(AREA_MUNICIPALITIES["340"])
    assert set(trigger.municipality_severity) == northwest | northeast
    assert all(trigger.municipality_severity[code] == 5 for code in northwest)
    assert all(trigger.municipality_severity[code] == 4 for code in northeast)
    assert trigger.unmatched_codes == ("301",)  # 茨城県南部 is not ours
    assert trigger.reported_at.isoformat() == "2025-03-01T10:16:00+09:00"


def test_vxse53_maps_cities_and_folds_wards_into_their_city():
    trigger = load_event("vxse53_chiba_cities.xml")
    assert trigger.municipality_severity == {
        ICHIKAWA: Intensity.FIVE_UPPER.rank,
        CHIBA: Intensity.FIVE_LOWER.rank,  # 中央区 5-, 花見川区 4: the city takes the stronger
        FUNABASHI: Intensity.FIVE_LOWER.rank,
        INZAI: Intensity.FIVE_LOWER.rank,  # 震度５弱以上未入電
        NARITA: Intensity.FOUR.rank,
        CHOSHI: Intensity.THREE.rank,
    }
    assert trigger.unmatched_codes == ("1310100",)
    assert trigger.severity == trigger.local_severity == Intensity.FIVE_UPPER.rank
    assert trigger.occurred_at.isoformat() == "2025-03-01T10:15:00+09:00"
    assert trigger.title == "震源・震度情報"


def test_known_municipalities_limit_the_mapping():
    bulletin = load_bulletin("vxse53_correction.xml")
    trigger = trigger_event_from_jma(bulletin, known_municipalities={MATSUDO, CHIBA})
    assert trigger.municipality_severity == {
        MATSUDO: Intensity.FIVE_UPPER.rank,
        CHIBA: Intensity.FIVE_LOWER.rank,
    }
    assert trigger.info_type is InfoType.CORRECTION
    assert trigger.severity == Intensity.SIX_LOWER.rank
    assert trigger.local_severity == Intensity.FIVE_UPPER.rank


@pytest.mark.parametrize(
    ("name", "status", "info_type"),
    [
        ("vxse51_drill.xml", EventStatus.DRILL, InfoType.ISSUE),
        ("vxse51_test.xml", EventStatus.TEST, InfoType.ISSUE),
        ("vxse51_cancel.xml", EventStatus.NORMAL, InfoType.CANCEL),
        ("vxse53_correction.xml", EventStatus.NORMAL, InfoType.CORRECTION),
    ],
)
def test_jma_status_and_info_type_are_translated(name, status, info_type):
    trigger = load_event(name)
    assert trigger.status is status
    assert trigger.info_type is info_type


def test_cancellation_and_distant_quake_touch_no_municipality():
    assert load_event("vxse51_cancel.xml").municipality_severity == {}
    distant = load_event("vxse53_distant.xml")
    assert distant.municipality_severity == {}
    assert distant.severity == 0


def test_trigger_event_serialises_for_the_api():
    dumped = load_event("vxse53_chiba_cities.xml").model_dump(mode="json")
    assert dumped["hazard"] == "earthquake"
    assert dumped["status"] == "normal"
    assert dumped["municipality_severity"][CHIBA] == 5
    assert len(CHIBA_MUNICIPALITIES) == 54


@pytest.mark.parametrize(
    ("hazard", "severity", "level"),
    [
        ("tsunami", "津波警報", 4),
        ("tsunami", "大津波警報", 5),
        ("tsunami", "津波注意報", 3),
        ("tsunami", "津波予報", 1),
        ("tsunami", "警報", 4),
        ("tsunami", "warning", 4),
        ("tsunami", "major_warning", 5),
        ("tsunami", 3, 3),
        ("heavy_rain", "大雨特別警報", 5),
        ("heavy_rain", "特別警報", 5),
        ("heavy_rain", "大雨警報", 3),
        ("heavy_rain", "警報", 3),
        ("heavy_rain", "大雨注意報", 2),
        ("heavy_rain", "注意報", 2),
        ("flood", "洪水警報", 3),
        ("flood", "氾濫危険情報", 4),
        ("storm_surge", "高潮警報", 4),
        ("landslide", "土砂災害警戒情報", 4),
        ("typhoon", "暴風警報", 3),
        ("typhoon", "暴風特別警報", 5),
    ],
)
def test_the_severity_names_jma_uses_are_accepted(hazard, severity, level):
    """Issue 25.6: the trigger API took only 'warning' for a 津波警報."""
    event = JsonTriggerEvent.model_validate(
        {
            "hazard": hazard,
            "municipalities": ["122050"],
            "severity": severity,
            "occurred_at": "2025-09-01T06:00:00+09:00",
        }
    )
    assert event.severity == level


def test_a_tsunami_name_under_another_hazard_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="tsunami"):
        JsonTriggerEvent.model_validate(
            {
                "hazard": "heavy_rain",
                "municipalities": ["122050"],
                "severity": "津波警報",
                "occurred_at": "2025-09-01T06:00:00+09:00",
            }
        )
