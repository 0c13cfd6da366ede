"""Cell parsers. Each takes the stripped cell text and returns a value or raises ``ValueError``
with a reason a clinic clerk can act on (Japanese first, English in brackets)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from bcp_service.csv_export import FORMULA_STARTS
from bcp_service.registry.schemas import validate_municipality_code

# The number and date readers are shared with the pages' forms (issue 27.5): one reader of 和暦 and full-width digits.
from bcp_service.typed_input import DATE_REASON, fold, parse_date, parse_float

__all__ = ["DATE_REASON", "fold", "parse_date", "parse_float"]

FORMULA_REASON = (
    "数式として扱われる文字 (= + - @) で始まっています。先頭の記号を消すか、別の書き方にしてください "
    "(cell starts like a spreadsheet formula)"
)
TRUE_WORDS = {"1", "true", "t", "yes", "y", "はい", "○", "〇", "◯", "あり", "有", "有り"}
FALSE_WORDS = {"0", "false", "f", "no", "n", "いいえ", "×", "✕", "x", "なし", "無", "無し"}

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


def parse_municipality_code(value: str) -> str:
    code = fold(value)
    # Excel drops the leading zero of codes such as 011002 (Sapporo) when it treats them as numbers.
    if len(code) == 5 and code.isdigit():
        padded = "0" + code
        try:
            return validate_municipality_code(padded)
        except ValueError:
            raise ValueError(
                "市町村コードは検査数字を含む6桁で入力してください (6-digit code with check digit)"
            ) from None
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
