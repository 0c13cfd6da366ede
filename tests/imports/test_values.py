from datetime import date

import pytest

from bcp_service.imports import values
from bcp_service.imports.columns import PATIENT_COLUMNS
from bcp_service.imports.reading import FileProblem, decode, header_key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1950-04-01", date(1950, 4, 1)),
        ("1950/4/1", date(1950, 4, 1)),
        ("1950/04/01 0:00", date(1950, 4, 1)),
        ("19500401", date(1950, 4, 1)),
        ("1950年4月1日", date(1950, 4, 1)),
        ("S25.4.1", date(1950, 4, 1)),
        ("s25/4/1", date(1950, 4, 1)),
        ("昭和25年4月1日", date(1950, 4, 1)),
        ("Ｓ２５．４．１", date(1950, 4, 1)),
        ("平成元年1月8日", date(1989, 1, 8)),
        ("H31.4.30", date(2019, 4, 30)),
        ("R1.5.1", date(2019, 5, 1)),
        ("令和2年2月29日", date(2020, 2, 29)),
        ("T15.12.24", date(1926, 12, 24)),
    ],
)
def test_dates(text, expected):
    assert values.parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1950-13-01", "存在しない日付"),
        ("2021-02-29", "存在しない日付"),
        ("S65.1.1", "昭和の期間にありません"),
        ("H1.1.7", "平成の期間にありません"),
        ("R1.4.30", "令和の期間にありません"),
        ("S0.1.1", "元年"),
        ("4/1/1950", "日付として読めません"),
        ("yesterday", "日付として読めません"),
    ],
)
def test_bad_dates(text, reason):
    with pytest.raises(ValueError, match=reason):
        values.parse_date(text)


@pytest.mark.parametrize("text", ["1", "true", "TRUE", "はい", "○", "〇", "あり", "有", "１", "Yes"])
def test_true_words(text):
    assert values.parse_bool(text) is True


@pytest.mark.parametrize("text", ["0", "false", "いいえ", "×", "なし", "無", "０", "No"])
def test_false_words(text):
    assert values.parse_bool(text) is False


def test_bad_bool():
    with pytest.raises(ValueError, match="はい/いいえ"):
        values.parse_bool("たぶん")


def test_municipality_code_check_digit_and_dropped_zero():
    assert values.parse_municipality_code("121002") == "121002"
    assert values.parse_municipality_code("１２１００２") == "121002"
    assert values.parse_municipality_code("11002") == "011002"  # Excel dropped the leading zero of Sapporo
    with pytest.raises(ValueError, match="検査数字"):
        values.parse_municipality_code("121003")
    with pytest.raises(ValueError, match="6桁"):
        values.parse_municipality_code("12100")


def test_formula_detection():
    assert values.looks_like_formula("=1+1")
    assert values.looks_like_formula("@SUM(A1)")
    assert values.looks_like_formula("\t=1")
    assert values.looks_like_formula(" =1")
    assert values.looks_like_formula("-1")
    assert not values.looks_like_formula("-1", allow_sign=True)
    assert not values.looks_like_formula("+819012345678", allow_sign=True)
    assert values.looks_like_formula("=1", allow_sign=True)
    assert not values.looks_like_formula("山田")
    assert values.unneutralise("'=1") == "=1"
    assert values.unneutralise("'abc") is None


def test_choice_labels_and_spellings():
    sex = next(c for c in PATIENT_COLUMNS if c.key == "sex")
    assert [sex.parse(t) for t in ("男", "女性", "F", "male", "不明")] == [
        "male",
        "female",
        "female",
        "male",
        "unknown",
    ]
    mode = next(c for c in PATIENT_COLUMNS if c.key == "ventilator_mode")
    assert [mode.parse(t) for t in ("侵襲(TPPV)", "ＮＰＰＶ", "気管切開", "non_invasive")] == [
        "invasive",
        "non_invasive",
        "invasive",
        "non_invasive",
    ]


def test_header_spellings():
    assert header_key("連絡先１電話") == header_key("連絡先1 電話") == header_key("連絡先1電話")
    assert header_key("Contact1_Phone") == header_key("contact1phone")
    assert header_key("氏名（必須）") == header_key("氏名")


def test_decode_order():
    assert decode("外部ID".encode(), 1000) == ("外部ID", "UTF-8")
    assert decode(b"\xef\xbb\xbf" + "外部ID".encode(), 1000) == ("外部ID", "UTF-8 (BOM付き)")
    assert decode("外部ID".encode("cp932"), 1000) == ("外部ID", "Shift_JIS (CP932)")
    assert decode("①㈱".encode("cp932"), 1000)[0] == "①㈱"  # NEC extensions Excel writes
    with pytest.raises(FileProblem, match="バイナリ"):
        decode(b"\x80\x81\xff\xfe\xfd abc", 1000)
