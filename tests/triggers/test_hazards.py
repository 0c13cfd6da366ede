"""Warnings, tsunamis and the aftershock merge, through the trigger endpoint."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bcp_service.triggers.events import Hazard
from bcp_service.triggers.jma import read_report_root
from bcp_service.triggers.jma_warnings import hazard_events, kind_level, parse_hazard_bulletin
from bcp_service.triggers.schemas import GuardConfig
from tests.shared_data import SHARED_DATA, requires_shared
from tests.triggers.dbsetup import (  # noqa: F401 (fixtures)
    chiba,
    clock,
    post_bulletin,
    records,
    round_municipality_codes,
    rounds,
    run_starts,
    system,
)
from tests.triggers.helpers import CHIBA, CHOSHI, FUNABASHI, ICHIKAWA, INZAI, NARASHINO, TATEYAMA, at

SHARED = SHARED_DATA / "jma"
OWN = Path(__file__).parent / "bulletins"
JST = timezone(timedelta(hours=9))
NORTH_WEST = {CHIBA, ICHIKAWA, FUNABASHI, NARASHINO, INZAI}


def post_shared(client, relative: str):
    return post_file(client, SHARED / relative)


def post_own(client, name: str):
    return post_file(client, OWN / name)


def post_file(client, path: Path):
    return client.post("/api/v1/triggers", content=path.read_bytes(), headers={"Content-Type": "application/xml"})


def test_stronger_aftershock_inside_the_delay_widens_the_pending_round(system, session, settings, chiba, clock):
    first = post_bulletin(system, "vxse51_chiba_5lower.xml", clock, at(10, 16, 30)).json()
    assert first["action"] == "schedule_round"
    # Thirty seconds later, before the first round is sent, a stronger quake in the same area.
    stronger = post_bulletin(system, "vxse53_aftershock_stronger.xml", clock, at(10, 17, 0)).json()
    assert (stronger["action"], stronger["reason"]) == ("update_pending", "merged_into_pending")
    assert stronger["record"]["id"] == first["record"]["id"]
    assert set(stronger["municipalities"]) == NORTH_WEST
    assert stronger["severity"] == 7  # 6弱 in 船橋市
    assert "新たな安否確認は開始せず" in stronger["reason_ja"]
    (record,) = records(session)
    assert record.municipality_severity[FUNABASHI] == 7 and record.municipality_severity[CHIBA] == 6
    (round_id,) = run_starts(session, settings, at(10, 19, 30))  # at the first round's time
    assert run_starts(session, settings, at(12, 30)) == []
    assert len(rounds(session)) == 1
    assert round_municipality_codes(session, round_id, chiba) == NORTH_WEST


def test_level_3_warning_starts_a_round_where_it_was_issued(system, session, settings, chiba, clock):
    clock.now = at(9, 1)
    response = system.post(
        "/api/v1/triggers",
        content=(Path(__file__).parent / "bulletins" / "vpww54_chiba_level3.xml").read_bytes(),
        headers={"Content-Type": "application/xml"},
    )
    assert response.status_code == 200, response.text
    decision = response.json()
    assert (decision["action"], decision["reason"]) == ("schedule_round", "threshold_met")
    assert decision["kind"] == "VPWW54" and decision["municipalities"] == [TATEYAMA]
    assert "警戒レベル3" in decision["reason_ja"]
    listed = system.get("/api/v1/triggers/decisions")
    assert listed.status_code == 403  # the system role sends, it does not read
    round_ids = run_starts(session, settings, at(9, 5))
    check, notice = rounds(session)
    assert check.kind == "safety_check" and check.title.startswith("千葉県気象警報・注意報")
    assert round_municipality_codes(session, check.id, chiba) == {TATEYAMA}
    # 洪水注意報 in 千葉市 (the advisory stage): an advance notice there, not in 館山市, which is checked.
    assert notice.kind == "advance_notice" and notice.title.startswith("【事前連絡】")
    assert round_municipality_codes(session, notice.id, chiba) == {CHIBA}
    assert sorted(round_ids) == [check.id, notice.id]
    # The next bulletin raises 千葉市 to a warning: the notice does not hold the safety check back.
    clock.now = at(11, 0)
    raised = system.post(
        "/api/v1/triggers",
        json={"hazard": "flood", "municipalities": [CHIBA], "severity": "警報", "occurred_at": at(11, 0).isoformat()},
    )
    assert raised.json()["action"] == "schedule_round"


def test_flood_advisory_alone_is_below_the_level_3_threshold(settings):
    bulletin = parse_hazard_bulletin(
        read_report_root((Path(__file__).parent / "bulletins" / "vpww54_chiba_level3.xml").read_bytes())
    )
    events = {e.hazard: e for e in hazard_events(bulletin, known_municipalities={CHIBA, CHOSHI, TATEYAMA})}
    assert events[Hazard.HEAVY_RAIN].municipality_severity == {TATEYAMA: 3}  # 銚子市 継続 does not count
    assert events[Hazard.FLOOD].municipality_severity == {CHIBA: 2, TATEYAMA: 2}
    assert GuardConfig(hazard_levels=settings.trigger_hazard_levels).threshold(Hazard.FLOOD) == 3


@requires_shared
def test_tsunami_warning_starts_a_round_for_coastal_municipalities(system, session, settings, chiba, clock):
    clock.now = datetime(2011, 3, 11, 14, 50, tzinfo=JST)
    response = post_shared(system, "tsunami/32-39_11_02_250206_VTSE41.xml")
    assert response.status_code == 200, response.text
    decision = response.json()
    assert (decision["action"], decision["reason"]) == ("schedule_round", "threshold_met")
    assert decision["kind"] == "VTSE41" and decision["event_id"] == "tsunami-20110311144640"
    # 九十九里・外房 津波警報 (銚子市), 内房 津波注意報 (館山市); 東京湾内湾 only 津波予報 (below 注意報).
    assert decision["municipalities"] == [CHOSHI, TATEYAMA]
    assert decision["severity"] == 4
    (round_id,) = run_starts(session, settings, datetime(2011, 3, 11, 14, 54, tzinfo=JST))
    assert round_municipality_codes(session, round_id, chiba) == {CHOSHI, TATEYAMA}


@requires_shared
def test_tsunami_cancellation_and_drill(system, session, chiba, clock):
    clock.now = datetime(2016, 9, 1, 7, 14, tzinfo=JST)
    drill = post_shared(system, "tsunami/32-39_12_02_250206_VTSE41.xml").json()
    assert (drill["action"], drill["reason"]) == ("ignore", "drill_ignored")
    clock.now = datetime(2021, 8, 5, 12, 57, tzinfo=JST)
    cancel = post_shared(system, "tsunami/38-39_03_01_210805_VTSE41.xml").json()
    assert (cancel["action"], cancel["reason"]) == ("ignore", "cancel_without_round")
    assert cancel["info_type"] == "cancel"


@requires_shared
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("weather/20240725040511_0_VPWW54_060000.xml", {Hazard.HEAVY_RAIN: ("0620400", 5)}),  # 酒田市 大雨特別警報
        ("weather/15_15_01_220314_VPWW54.xml", {Hazard.STORM_SURGE: ("3640300", 4)}),  # 藍住町 高潮警報
        ("weather/17_02_01_190529_VXWW50.xml", {Hazard.LANDSLIDE: ("0133100", 4)}),  # 松前町 土砂災害警戒情報
        ("weather/17_04_01_250630_VXWW50.xml", {Hazard.LANDSLIDE: ("1420600", 4)}),  # 小田原市
    ],
)
def test_recorded_warnings_are_read_per_hazard_and_municipality(name, expected):
    bulletin = parse_hazard_bulletin(read_report_root((SHARED / name).read_bytes()))
    for hazard, (code, level) in expected.items():
        assert bulletin.levels[hazard][code] == level


@requires_shared
def test_only_lifted_warnings_start_nothing(system, clock, chiba):
    clock.now = datetime(2016, 3, 10, 18, 23, tzinfo=JST)
    decision = post_shared(system, "weather/20160310092241_uuid-2b441518_VPWW53.xml").json()
    assert decision["action"] == "ignore"


def test_new_level_names_are_understood():
    assert kind_level("レベル３氾濫警報") == (Hazard.FLOOD, 3)
    assert kind_level("レベル４土砂災害危険警報") == (Hazard.LANDSLIDE, 4)
    assert kind_level("暴風警報") is None


def test_elderly_evacuation_is_a_level_in_json_events(system, chiba, clock):
    clock.now = at(9, 0)
    response = system.post(
        "/api/v1/triggers",
        json={
            "hazard": "heavy_rain",
            "municipalities": [TATEYAMA],
            "severity": "高齢者等避難",
            "occurred_at": at(9, 0).isoformat(),
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["action"] == "schedule_round"


# The same paths on the project's own bulletins (tests/triggers/bulletins), so a fresh clone tests them too.


def test_own_tsunami_warning_starts_a_round_for_the_chiba_coast(system, session, settings, chiba, clock):
    clock.now = datetime(2026, 3, 1, 10, 6, tzinfo=JST)
    response = post_own(system, "vtse41_chiba_coast_warning.xml")
    assert response.status_code == 200, response.text
    decision = response.json()
    assert (decision["action"], decision["reason"]) == ("schedule_round", "threshold_met")
    assert decision["kind"] == "VTSE41" and decision["event_id"] == "tsunami-20260301100230"
    # 九十九里・外房 津波警報 (銚子市) 4, 内房 津波注意報 (館山市) 3; 東京湾内湾 only 津波予報 (level 1, below).
    assert decision["municipalities"] == [CHOSHI, TATEYAMA]
    assert decision["severity"] == 4
    (round_id,) = run_starts(session, settings, datetime(2026, 3, 1, 10, 10, tzinfo=JST))
    assert round_municipality_codes(session, round_id, chiba) == {CHOSHI, TATEYAMA}


def test_own_tsunami_drill_is_ignored_and_a_withdrawal_cancels_the_pending_round(system, session, chiba, clock):
    clock.now = datetime(2026, 9, 2, 7, 11, tzinfo=JST)
    drill = post_own(system, "vtse41_drill.xml").json()
    assert (drill["action"], drill["reason"]) == ("ignore", "drill_ignored")
    clock.now = datetime(2026, 3, 1, 10, 6, tzinfo=JST)
    assert post_own(system, "vtse41_chiba_coast_warning.xml").json()["action"] == "schedule_round"
    clock.now = datetime(2026, 3, 1, 10, 31, tzinfo=JST)
    cancel = post_own(system, "vtse41_cancel.xml").json()
    assert cancel["info_type"] == "cancel"
    assert cancel["action"] != "schedule_round"
    assert rounds(session) == []


def test_own_tsunami_withdrawal_without_a_round(system, chiba, clock):
    clock.now = datetime(2026, 3, 1, 10, 31, tzinfo=JST)
    cancel = post_own(system, "vtse41_cancel.xml").json()
    assert (cancel["action"], cancel["reason"]) == ("ignore", "cancel_without_round")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "vpww54_chiba_heavy_rain_special.xml",
            {Hazard.HEAVY_RAIN: {"1220500": 5, "1220200": 2}, Hazard.FLOOD: {"1220500": 3}},
        ),  # 館山市 大雨特別警報
        ("vpww54_chiba_storm_surge.xml", {Hazard.STORM_SURGE: {"1220400": 4, "1220300": 2}}),  # 暴風 has no level
        ("vxww50_chiba_landslide.xml", {Hazard.LANDSLIDE: {"1220500": 4}}),  # 館山市 土砂災害警戒情報, 銚子市 なし
        ("vpww53_chiba_lifted.xml", {}),  # only 解除 and 継続
    ],
)
def test_own_warnings_are_read_per_hazard_and_municipality(name, expected):
    bulletin = parse_hazard_bulletin(read_report_root((OWN / name).read_bytes()))
    assert bulletin.levels == expected


def test_own_only_lifted_warnings_start_nothing(system, clock, chiba):
    clock.now = datetime(2026, 6, 10, 18, 21, tzinfo=JST)
    decision = post_own(system, "vpww53_chiba_lifted.xml").json()
    assert decision["action"] == "ignore"


def test_own_landslide_alert_starts_a_round_in_tateyama(system, session, settings, chiba, clock):
    clock.now = datetime(2026, 7, 6, 3, 31, tzinfo=JST)
    decision = post_own(system, "vxww50_chiba_landslide.xml").json()
    assert (decision["action"], decision["kind"], decision["municipalities"]) == (
        "schedule_round",
        "VXWW50",
        [TATEYAMA],
    )
