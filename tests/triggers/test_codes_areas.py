import pytest

from bcp_service.triggers import areas
from bcp_service.triggers.areas import (
    AREA_MUNICIPALITIES,
    CHIBA_MUNICIPALITIES,
    JMA_SEISMIC_AREAS,
    WARD_TO_CITY,
    municipalities_for_area,
    municipality_name,
)
from bcp_service.triggers.codes import (
    check_digit,
    is_valid_municipality_code,
    map_jma_city_code,
    normalise_municipality_code,
)


def test_check_digit_matches_the_published_codes():
    assert check_digit("12100") == "2"  # 千葉市 121002
    assert check_digit("12202") == "5"  # 銚子市 122025
    assert is_valid_municipality_code("121002")
    assert not is_valid_municipality_code("121003")
    assert not is_valid_municipality_code("12100")


def test_every_chiba_code_has_a_valid_check_digit():
    assert len(CHIBA_MUNICIPALITIES) == 54
    assert len(set(CHIBA_MUNICIPALITIES.values())) == 54
    bad = [code for code in CHIBA_MUNICIPALITIES if not is_valid_municipality_code(code)]
    assert bad == []
    assert all(code.startswith("12") for code in CHIBA_MUNICIPALITIES)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12100", "121002"),
        ("121002", "121002"),
        ("１２２０２", "122025"),
        (12202, "122025"),
        (" 122033 ", "122033"),
    ],
)
def test_normalise_adds_or_checks_the_check_digit(raw, expected):
    assert normalise_municipality_code(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("121003", r"has check digit 3 but 2 was expected \(did you mean 121002\?\)"),
        ("1210", "has 4 digits"),
        ("1210000", "has 7 digits"),
        ("12-100", "digits only"),
        ("千葉市", "digits only"),
        (None, "must be a string of digits"),
    ],
)
def test_normalise_says_what_is_wrong(raw, message):
    with pytest.raises(ValueError, match=message):
        normalise_municipality_code(raw)


def test_jma_city_codes_map_by_five_digit_prefix():
    known = set(CHIBA_MUNICIPALITIES)
    assert map_jma_city_code("1220400", known, WARD_TO_CITY) == "122041"  # 船橋市
    assert map_jma_city_code("1220200", known, WARD_TO_CITY) == "122025"  # 銚子市
    assert map_jma_city_code("1210000", known, WARD_TO_CITY) == "121002"  # 千葉市 as a whole


@pytest.mark.parametrize("ward", ["1210100", "1210200", "1210300", "1210400", "1210500", "1210600"])
def test_chiba_city_wards_map_to_the_city(ward):
    assert map_jma_city_code(ward, set(CHIBA_MUNICIPALITIES), WARD_TO_CITY) == "121002"


def test_codes_outside_our_set_or_malformed_map_to_nothing():
    known = set(CHIBA_MUNICIPALITIES)
    assert map_jma_city_code("1310100", known, WARD_TO_CITY) is None  # 東京千代田区
    assert map_jma_city_code("12101", known, WARD_TO_CITY) is None
    assert map_jma_city_code("12101AA", known, WARD_TO_CITY) is None
    # A ward whose city is not one of ours maps to nothing either.
    assert map_jma_city_code("1210100", {"122041"}, WARD_TO_CITY) is None


def test_a_ward_registered_on_its_own_wins_over_the_ward_table():
    assert map_jma_city_code("1210100", {"121002", "121011"}, WARD_TO_CITY) == "121011"


def test_ward_table_is_data_that_another_city_can_extend():
    sapporo = {"011002"}
    table = {**WARD_TO_CITY, "01101": "01100"}
    assert map_jma_city_code("0110100", sapporo, table) == "011002"
    assert map_jma_city_code("0110100", sapporo, WARD_TO_CITY) is None


def test_every_chiba_municipality_is_in_exactly_one_seismic_area():
    assert set(AREA_MUNICIPALITIES) == set(JMA_SEISMIC_AREAS) == {"340", "341", "342"}
    assigned = [code for members in AREA_MUNICIPALITIES.values() for code in members]
    assert sorted(assigned) == sorted(CHIBA_MUNICIPALITIES)
    assert "121002" in AREA_MUNICIPALITIES["341"]  # 千葉市 in 千葉県北西部
    assert "122025" in AREA_MUNICIPALITIES["340"]  # 銚子市 in 千葉県北東部
    assert "122050" in AREA_MUNICIPALITIES["342"]  # 館山市 in 千葉県南部


def test_area_table_is_labelled_as_demo_data():
    assert "demo data" in areas.__doc__
    assert "official" in areas.__doc__


def test_municipalities_for_area_filters_by_known_codes():
    assert municipalities_for_area("341", {"121002", "122025"}) == ("121002",)
    assert municipalities_for_area("301") == ()
    assert len(municipalities_for_area("341")) == 19


def test_municipality_name_falls_back_to_the_code():
    assert municipality_name("121002") == "千葉市"
    assert municipality_name("131016") == "131016"
