import pytest
from pydantic import BaseModel

from bcp_service.intensity import Intensity, IntensityField


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", Intensity.ONE),
        ("4", Intensity.FOUR),
        (4, Intensity.FOUR),
        ("5-", Intensity.FIVE_LOWER),
        ("5+", Intensity.FIVE_UPPER),
        ("6-", Intensity.SIX_LOWER),
        ("6+", Intensity.SIX_UPPER),
        ("7", Intensity.SEVEN),
        ("5弱", Intensity.FIVE_LOWER),
        ("５弱", Intensity.FIVE_LOWER),
        ("震度5弱", Intensity.FIVE_LOWER),
        ("震度６強", Intensity.SIX_UPPER),
        ("震度７", Intensity.SEVEN),
        ("5 lower", Intensity.FIVE_LOWER),
        ("6 Upper", Intensity.SIX_UPPER),
        ("５＋", Intensity.FIVE_UPPER),
        (" 6- ", Intensity.SIX_LOWER),
        (Intensity.SEVEN, Intensity.SEVEN),
    ],
)
def test_parse_accepts_xml_japanese_and_english_spellings(text, expected):
    assert Intensity.parse(text) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("5", "ambiguous"),
        ("震度6", "ambiguous"),
        (6, "ambiguous"),
        ("4弱", "only 震度5 and 震度6"),
        ("8", "not a JMA seismic intensity"),
        ("0", "not a JMA seismic intensity"),
        ("", "not a JMA seismic intensity"),
        ("strong", "not a JMA seismic intensity"),
        ("震度５弱以上未入電", "not a JMA seismic intensity"),
        (None, "must be text"),
        (True, "must be text"),
        (5.5, "must be text"),
    ],
)
def test_parse_refuses_ambiguous_and_unknown_values(text, message):
    with pytest.raises(ValueError, match=message):
        Intensity.parse(text)


def test_order_follows_the_scale_not_the_string():
    assert Intensity.FIVE_LOWER < Intensity.FIVE_UPPER < Intensity.SIX_LOWER
    assert Intensity.SIX_UPPER < Intensity.SEVEN
    assert Intensity.FOUR <= Intensity.FOUR
    assert Intensity.SEVEN > Intensity.ONE
    assert sorted([Intensity.SEVEN, Intensity.FIVE_UPPER, Intensity.FIVE_LOWER, Intensity.ONE]) == [
        Intensity.ONE,
        Intensity.FIVE_LOWER,
        Intensity.FIVE_UPPER,
        Intensity.SEVEN,
    ]
    assert max(Intensity.FIVE_UPPER, Intensity.SIX_LOWER) is Intensity.SIX_LOWER


def test_comparison_with_strings_follows_the_scale():
    # As plain strings "5+" < "5-"; the scale says the opposite.
    assert Intensity.FIVE_UPPER > "5-"
    assert Intensity.FIVE_UPPER > "5-"
    assert Intensity.SIX_LOWER >= "5弱"
    with pytest.raises(TypeError):
        Intensity.FIVE_LOWER < 6  # noqa: B015


def test_rank_round_trip_and_labels():
    assert [i.rank for i in Intensity] == list(range(1, 10))
    for intensity in Intensity:
        assert Intensity.from_rank(intensity.rank) is intensity
    assert Intensity.FIVE_LOWER.label_ja == "震度5弱"
    assert Intensity.SIX_UPPER.label_ja == "震度6強"
    assert Intensity.SEVEN.label_ja == "震度7"
    assert Intensity.FIVE_UPPER.label_en == "5 upper"
    assert str(Intensity.FIVE_LOWER) == "5-"
    with pytest.raises(ValueError):
        Intensity.from_rank(10)


def test_pydantic_field_parses_and_serialises_the_xml_spelling():
    class Model(BaseModel):
        intensity: IntensityField

    model = Model(intensity="震度5強")
    assert model.intensity is Intensity.FIVE_UPPER
    assert model.model_dump(mode="json") == {"intensity": "5+"}
    with pytest.raises(ValueError, match="ambiguous"):
        Model(intensity="5")
