"""Numbers and dates as people in Japan type them: full-width digits (「３」), commas, 和暦
(昭和45年3月2日, S45.3.2, R6/1/5, 令和元年). The one reader for the CSV/.xlsx import
(``imports/values.py``) and every number and date field on the pages.

Each parser returns the value or raises ``ValueError`` with a reason a clerk can act on, Japanese
first with English in brackets (the import's report keeps both); a page shows it through
``japanese_only``, which drops the bracketed English.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date

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
ERA_DATE = re.compile(
    r"^(明治|大正|昭和|平成|令和|[MTSHR])\s*(\d{1,2}|元)\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$",
    re.IGNORECASE,
)
# Excel writes a date cell that carries a time as "1950/4/1 0:00" or "1950/04/01 00:00:00".
MIDNIGHT = re.compile(r"\s+0{1,2}:00(:00)?$")

DATE_REASON = "日付として読めません。1950-04-01、1950/4/1、S25.4.1、昭和25年4月1日 のように書いてください (not a date)"
NUMBER_REASON = "数値として読めません。3 や 2.5 のように数字で入力してください (not a number)"


def fold(text: str) -> str:
    """Full-width letters and digits to half-width, so ＴＲＵＥ and １ read like TRUE and 1."""
    return unicodedata.normalize("NFKC", text).strip()


def parse_float(value: str) -> float:
    """A number: full-width digits, thousands commas, a leading or trailing blank; never inf or nan."""
    text = fold(value).replace(",", "")
    try:
        number = float(text)
    except ValueError:
        raise ValueError(NUMBER_REASON) from None
    if not math.isfinite(number):
        raise ValueError(NUMBER_REASON)
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


def number_text(value: str) -> str:
    """A page's number field as the schema reads it ("３" → "3", "1,200" → "1200"), or ``ValueError``."""
    number = parse_float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def date_text(value: str) -> str:
    """A page's date field in ISO form ("R6/1/5" → "2024-01-05"), or ``ValueError``."""
    return parse_date(value).isoformat()


def japanese_only(message: str) -> str:
    """A reason as a page shows it: without the English the import's report adds in brackets."""
    text = message.rstrip()
    if not text.endswith((")", "）")):
        return message
    for i, char in enumerate(text):
        tail = text[i + 1 : -1]
        if char in "(（" and tail.isascii() and any(c.isalpha() for c in tail):
            return text[:i].rstrip()
    return message
