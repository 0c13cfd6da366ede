"""Cell parsers. Each takes the stripped cell text and returns a value or raises ``ValueError``
with a reason a clinic clerk can act on (Japanese first, English in brackets)."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date

from bcp_service.csv_export import FORMULA_STARTS
from bcp_service.registry.schemas import validate_municipality_code

FORMULA_REASON = (
    "数式として扱われる文字 (= + - @) で始まっています。先頭の記号を消すか、別の書き方にしてください "
    "(cell starts like a spreadsheet formula)"
)
TRUE_WORDS = {"1", "true", "t", "yes", "y", "はい", "○", "〇", "◯", "あり", "有", "有り"}
FALSE_WORDS = {"0", "false", "f", "no", "n", "いいえ", "×", "✕", "x", "なし", "無", "無し"}

# Era name, one-letter form, first day. Dates before an era's first day belong to the era before.
ERAS = (
    ("令和", "R", date(2019, 5, 1)),
    ("平成", "H", date(1989, 1, 8)),
    ("昭和", "S", date(1926, 12, 25)),
    ("大正", "T", date(1912, 7, 30)),
    ("明治", "M", date(1868, 1, 25)),
)
ERA_BY_NAME = {name: (name, start) for name, _letter, start in ERAS} | {
    letter: (name, start) for name, letter, start in ERAS
}
ERA_END = {ERAS[i][0]: ERAS[i - 1][2] for i in range(1, len(ERAS))}

WESTERN = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
ERA_DATE = re.compile(r"^(明治|大正|昭和|平成|令和|[MTSHR])\s*(\d{1,2}|元)\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$", re.IGNORECASE)
# Excel writes a date cell that carries a time as "1950/4/1 0:00" or "1950/04/01 00:00:00".
MIDNIGHT = re.compile(r"\s+0{1,2}:00(:00)?$")

DATE_REASON = "日付として読めません。1950-04-01、1950/4/1、S25.4.1、昭和25年4月1日 のように書いてください (not a date)"


def fold(text: str) -> str:
    """Full-width letters and digits to half-width, so ＴＲＵＥ and １ read like TRUE and 1."""
    return unicodedata.normalize("NFKC", text).strip()


SIGNS = ("+", "-")
# An apostrophe before a formula character is how our export (and Excel) marks such a cell as text.
NEUTRALISED = tuple("'" + start for start in FORMULA_STARTS)


FORMULA_FIRST = frozenset(FORMULA_STARTS)
FORMULA_FIRST_UNSIGNED = FORMULA_FIRST - set(SIGNS)
BLANKS = " \u3000"


def looks_like_formula(raw: str, *, allow_sign: bool = False) -> bool:
    """Whether a spreadsheet would evaluate the cell. ``allow_sign`` for phone numbers and numbers,
    where a leading + or - is data and the parser decides."""
    starts = FORMULA_FIRST_UNSIGNED if allow_sign else FORMULA_FIRST
    first = raw[:1]
    if first in starts:
        return True
    return first in BLANKS and first != "" and raw.lstrip(BLANKS)[:1] in starts


def unneutralise(raw: str) -> str | None:
    """The cell without the export's protecting apostrophe, or None when it has none."""
    return raw[1:] if raw.startswith(NEUTRALISED) else None


def parse_text(value: str) -> str:
    return value


def parse_bool(value: str) -> bool:
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    word = fold(value).lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError("はい/いいえ、1/0、○/×、あり/なし のいずれかを入力してください (not a yes/no value)")


def parse_float(value: str) -> float:
    text = fold(value).replace(",", "")
    try:
        number = float(text)
    except ValueError:
        raise ValueError("数値として読めません (not a number)") from None
    if not math.isfinite(number):
        raise ValueError("数値として読めません (not a number)")
    return number


def parse_date(value: str) -> date:
    text = MIDNIGHT.sub("", fold(value))
    if match := WESTERN.match(text) or COMPACT.match(text):
        year, month, day = (int(part) for part in match.groups())
        return _make_date(year, month, day)
    if match := ERA_DATE.match(text):
        return _era_date(match.group(1).upper(), match.group(2), int(match.group(3)), int(match.group(4)))
    raise ValueError(DATE_REASON)


def _make_date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError("存在しない日付です (no such date)") from None


def _era_date(era: str, year_text: str, month: int, day: int) -> date:
    name, start = ERA_BY_NAME[era]
    era_year = 1 if year_text == "元" else int(year_text)
    if era_year < 1:
        raise ValueError("和暦の年は1 (元年) から数えます (era years start at 1)")
    result = _make_date(start.year + era_year - 1, month, day)
    end = ERA_END.get(name)
    if result < start or (end is not None and result >= end):
        raise ValueError(f"{name}{year_text}年{month}月{day}日 は{name}の期間にありません (date outside the era)")
    return result


def parse_municipality_code(value: str) -> str:
    code = fold(value)
    # Excel drops the leading zero of codes such as 011002 (Sapporo) when it treats them as numbers.
    if len(code) == 5 and code.isdigit():
        padded = "0" + code
        try:
            return validate_municipality_code(padded)
        except ValueError:
            raise ValueError("市町村コードは検査数字を含む6桁で入力してください (6-digit code with check digit)") from None
    return validate_municipality_code(code)


def choice_parser(labels: Mapping[str, str], shown: str) -> Callable[[str], str]:
    """A parser for an enumeration: ``labels`` maps every accepted spelling (lower case) to the stored value."""
    folded = {_choice_key(k): v for k, v in labels.items()}

    def parse(value: str) -> str:
        if value in folded:
            return folded[value]
        word = _choice_key(value)
        if word in folded:
            return folded[word]
        raise ValueError(f"次のいずれかを入力してください: {shown} (not one of the allowed values)")

    return parse


def _choice_key(text: str) -> str:
    return re.sub(r"\s", "", fold(text).lower())
