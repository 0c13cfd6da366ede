from datetime import datetime, timedelta, timezone

import pytest

from bcp_service.intensity import Intensity
from bcp_service.triggers.jma import (
    MAX_BULLETIN_BYTES,
    JmaArea,
    JmaCity,
    JmaParseError,
    parse_jma_bulletin,
)
from tests.triggers.helpers import DATA, load_bulletin

JST = timezone(timedelta(hours=9))


@pytest.mark.parametrize("path", sorted(DATA.glob("vxse*.xml")), ids=lambda p: p.name)
def test_every_valid_fixture_parses(path):
    bulletin = parse_jma_bulletin(path.read_bytes())
    assert bulletin.kind in ("VXSE51", "VXSE53")
    assert bulletin.event_id.isdigit() and len(bulletin.event_id) == 14
    assert bulletin.report_datetime.tzinfo is not None


def test_vxse51_has_areas_only():
    b = load_bulletin("vxse51_chiba_5lower.xml")
    assert b.kind == "VXSE51"
    assert b.control_title == "震度速報"
    assert b.status == "通常"
    assert b.info_type == "発表"
    assert b.info_kind == "震度速報"
    assert b.event_id == "20250301101512"
    assert b.serial is None
    assert b.report_datetime == datetime(2025, 3, 1, 10, 16, tzinfo=JST)
    assert b.target_datetime == datetime(2025, 3, 1, 10, 15, tzinfo=JST)
    assert b.origin_time is None
    assert b.hypocenter_name is None
    assert b.magnitude is None
    assert b.max_intensity is Intensity.FIVE_LOWER
    assert b.areas == (
        JmaArea("341", "千葉県北西部", Intensity.FIVE_LOWER),
        JmaArea("340", "千葉県北東部", Intensity.FOUR),
        JmaArea("301", "茨城県南部", Intensity.FOUR),
    )
    assert b.cities == ()
    assert b.headline.startswith("１日１０時１５分ころ")


def test_vxse53_has_hypocentre_areas_and_cities_including_wards():
    b = load_bulletin("vxse53_chiba_cities.xml")
    assert b.kind == "VXSE53"
    assert b.control_title == "震源・震度に関する情報"
    assert b.head_title == "震源・震度情報"
    assert b.info_kind == "地震情報"
    assert b.serial == "1"
    assert b.origin_time == datetime(2025, 3, 1, 10, 15, tzinfo=JST)
    assert b.hypocenter_name == "千葉県北西部"
    assert b.magnitude == 5.9
    assert b.max_intensity is Intensity.FIVE_UPPER
    assert [a.code for a in b.areas] == ["341", "340", "350"]
    assert JmaCity("1210100", "千葉中央区", Intensity.FIVE_LOWER) in b.cities
    assert JmaCity("1210200", "千葉花見川区", Intensity.FOUR) in b.cities
    assert JmaCity("1220300", "市川市", Intensity.FIVE_UPPER) in b.cities
    assert JmaCity("1310100", "東京千代田区", Intensity.FOUR) in b.cities
    assert len(b.cities) == 8


def test_vxse53_city_with_unreported_5_lower_counts_as_5_lower():
    b = load_bulletin("vxse53_chiba_cities.xml")
    inzai = next(c for c in b.cities if c.name == "印西市")
    assert inzai.max_intensity is Intensity.FIVE_LOWER
    assert b.unreported_city_codes == ("1223100",)


def test_correction_is_read_with_higher_intensity():
    b = load_bulletin("vxse53_correction.xml")
    assert b.info_type == "訂正"
    assert b.event_id == "20250301101512"
    assert b.max_intensity is Intensity.SIX_LOWER
    assert JmaCity("1220300", "市川市", Intensity.SIX_LOWER) in b.cities
    assert JmaCity("1220700", "松戸市", Intensity.FIVE_UPPER) in b.cities


def test_cancellation_has_an_empty_body_apart_from_text():
    b = load_bulletin("vxse51_cancel.xml")
    assert b.info_type == "取消"
    assert b.event_id == "20250301101512"
    assert b.max_intensity is None
    assert b.areas == () and b.cities == ()
    assert b.text == "先ほどの震度速報を取り消します。"


def test_cancellation_without_any_body_is_accepted():
    data = (DATA / "vxse51_cancel.xml").read_text(encoding="utf-8")
    start = data.index("  <Body")
    end = data.index("</Body>") + len("</Body>")
    b = parse_jma_bulletin((data[:start] + data[end:]).encode())
    assert b.info_type == "取消"
    assert b.text is None


@pytest.mark.parametrize(("name", "status"), [("vxse51_drill.xml", "訓練"), ("vxse51_test.xml", "試験")])
def test_drill_and_test_status_are_read(name, status):
    b = load_bulletin(name)
    assert b.status == status
    assert b.info_type == "発表"


def test_drill_fixture_reports_5_upper():
    assert load_bulletin("vxse51_drill.xml").max_intensity is Intensity.FIVE_UPPER


def test_aftershocks_have_their_own_event_ids():
    first = load_bulletin("vxse53_chiba_cities.xml")
    weaker = load_bulletin("vxse53_aftershock_weaker.xml")
    stronger = load_bulletin("vxse53_aftershock_stronger.xml")
    assert len({first.event_id, weaker.event_id, stronger.event_id}) == 3
    assert weaker.report_datetime - first.report_datetime == timedelta(hours=1, minutes=1)
    assert weaker.max_intensity is Intensity.FIVE_LOWER
    assert stronger.max_intensity is Intensity.SIX_LOWER
    assert stronger.magnitude == 6.2


def test_distant_earthquake_has_no_intensity_and_unknown_magnitude():
    b = load_bulletin("vxse53_distant.xml")
    assert b.head_title == "遠地地震に関する情報"
    assert b.hypocenter_name == "南太平洋"
    assert b.magnitude is None
    assert b.max_intensity is None
    assert b.areas == () and b.cities == ()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("truncated.xml", "not well-formed XML"),
        ("garbage.bin", "not well-formed XML"),
        ("not_jma.xml", "root element is '{http://www.w3.org/2005/Atom}feed'"),
        ("no_namespace.xml", "has no namespace"),
        ("missing_event_id.xml", "no Head/EventID"),
        ("unknown_type_vxse52.xml", "unsupported bulletin type '震源に関する情報'"),
        ("bad_intensity.xml", "MaxInt '8'"),
        ("bad_status.xml", "Control/Status '本番'"),
        ("naive_report_time.xml", "has no UTC offset"),
        ("billion_laughs.xml", "XML bomb"),
        ("external_entity.xml", "external-entity"),
    ],
)
def test_broken_bulletins_raise_an_error_that_says_what_is_wrong(name, message):
    with pytest.raises(JmaParseError, match=message) as caught:
        parse_jma_bulletin((DATA / "broken" / name).read_bytes())
    assert isinstance(caught.value, ValueError)


def _edit(name: str, old: str, new: str) -> bytes:
    text = (DATA / name).read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new).encode()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("<InfoType>発表</InfoType>", "<InfoType>遅延</InfoType>", "Head/InfoType '遅延'"),
        ("<InfoType>発表</InfoType>", "", "no Head/InfoType"),
        ("<Status>通常</Status>", "", "no Control/Status"),
        (
            "<ReportDateTime>2025-03-01T10:20:00+09:00</ReportDateTime>",
            "<ReportDateTime>yesterday</ReportDateTime>",
            "'yesterday' is not an ISO 8601",
        ),
        ("<ReportDateTime>2025-03-01T10:20:00+09:00</ReportDateTime>", "", "no Head/ReportDateTime"),
        ("<Code>1220400</Code>", "<Code>12204</Code>", "City 船橋市 has code '12204'"),
        ("<Name>船橋市</Name>", "", r"no Area\(千葉県北西部\)/City/Name"),
        (">5.9<", ">big<", "Magnitude 'big'"),
    ],
)
def test_vxse53_with_a_missing_or_wrong_element_is_refused(old, new, message):
    with pytest.raises(JmaParseError, match=message):
        parse_jma_bulletin(_edit("vxse53_chiba_cities.xml", old, new))


def test_vxse51_without_areas_is_refused():
    data = (DATA / "vxse51_chiba_5lower.xml").read_text(encoding="utf-8")
    start = data.index("    <Intensity>")
    end = data.index("</Intensity>") + len("</Intensity>")
    with pytest.raises(JmaParseError, match="has no Body/Intensity/Observation/Pref/Area"):
        parse_jma_bulletin((data[:start] + data[end:]).encode())


def test_empty_and_oversized_input_is_refused():
    with pytest.raises(JmaParseError, match="empty"):
        parse_jma_bulletin(b"")
    with pytest.raises(JmaParseError, match="empty"):
        parse_jma_bulletin(b"  \n")
    with pytest.raises(JmaParseError, match="byte limit"):
        parse_jma_bulletin(b"<" + b"a" * MAX_BULLETIN_BYTES + b"/>")


def test_bulletin_is_immutable():
    b = load_bulletin("vxse51_chiba_5lower.xml")
    with pytest.raises(AttributeError):
        b.event_id = "x"  # type: ignore[misc]
