"""JMA seismic intensity scale (気象庁震度階級) as an ordered type.

The Agency's XML writes the values "1" .. "4", "5-", "5+", "6-", "6+", "7"; people write
"震度5弱", "５強", "5 lower" and so on. Everything is normalised to the XML spelling, which is
also what we store and what the API returns.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_LABELS_JA = {
    "1": "震度1",
    "2": "震度2",
    "3": "震度3",
    "4": "震度4",
    "5-": "震度5弱",
    "5+": "震度5強",
    "6-": "震度6弱",
    "6+": "震度6強",
    "7": "震度7",
}

_LABELS_EN = {
    "1": "1",
    "2": "2",
    "3": "3",
    "4": "4",
    "5-": "5 lower",
    "5+": "5 upper",
    "6-": "6 lower",
    "6+": "6 upper",
    "7": "7",
}

_WORD_SUFFIX = {
    "弱": "-",
    "強": "+",
    "-": "-",
    "+": "+",
    "lower": "-",
    "upper": "+",
    "low": "-",
    "up": "+",
    "l": "-",
    "u": "+",
}

_PATTERN = re.compile(r"^(?:震度|shindo|intensity)?\s*([1-7])\s*(弱|強|lower|upper|low|up|l|u|-|\+)?$")


class Intensity(enum.StrEnum):
    """One step of the JMA scale; comparisons follow the scale, not the string."""

    ONE = "1"
    TWO = "2"
    THREE = "3"
    FOUR = "4"
    FIVE_LOWER = "5-"
    FIVE_UPPER = "5+"
    SIX_LOWER = "6-"
    SIX_UPPER = "6+"
    SEVEN = "7"

    @property
    def rank(self) -> int:
        """1 for 震度1 up to 9 for 震度7; stored as the comparable severity of an event."""
        return _ORDER.index(self) + 1

    @property
    def label_ja(self) -> str:
        return _LABELS_JA[self.value]

    @property
    def label_en(self) -> str:
        return _LABELS_EN[self.value]

    @classmethod
    def from_rank(cls, rank: int) -> Intensity:
        if not 1 <= rank <= len(_ORDER):
            raise ValueError(f"intensity rank must be 1..{len(_ORDER)}, got {rank}")
        return _ORDER[rank - 1]

    @classmethod
    def parse(cls, value: Any) -> Intensity:
        """Read "5-", "5弱", "５弱", "震度6強", "5 lower", "6+" and similar.

        A bare 5 or 6 is refused: it is exactly the ambiguity (弱 or 強?) that decides whether
        a round starts at the default threshold.
        """
        if isinstance(value, Intensity):
            return value
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError(f"seismic intensity must be text such as '5-' or '5弱', got {value!r}")
        text = unicodedata.normalize("NFKC", str(value)).strip().lower()
        text = text.replace("−", "-").replace("ー", "-")
        match = _PATTERN.match(text)
        if match is None:
            raise ValueError(
                f"'{value}' is not a JMA seismic intensity; use one of "
                "1, 2, 3, 4, 5-, 5+, 6-, 6+, 7 (or 5弱, 5強, 6弱, 6強, 震度5弱, '5 lower')"
            )
        digit, suffix = match.group(1), match.group(2)
        if digit in ("5", "6"):
            if suffix is None:
                raise ValueError(f"'{value}' is ambiguous: say {digit}- ({digit}弱) or {digit}+ ({digit}強)")
            return cls(digit + _WORD_SUFFIX[suffix])
        if suffix is not None:
            raise ValueError(f"'{value}': only 震度5 and 震度6 are split into 弱 and 強")
        return cls(digit)

    # str defines its own ordering, and falling back to it would put "5+" below "5-"; so every
    # operator is written out, and a plain string on the other side is read as an intensity.
    def _other_rank(self, other: object) -> int | None:
        if isinstance(other, Intensity):
            return other.rank
        if isinstance(other, str):
            return Intensity.parse(other).rank
        return None

    def __lt__(self, other: object) -> bool:
        rank = self._other_rank(other)
        return NotImplemented if rank is None else self.rank < rank

    def __le__(self, other: object) -> bool:
        rank = self._other_rank(other)
        return NotImplemented if rank is None else self.rank <= rank

    def __gt__(self, other: object) -> bool:
        rank = self._other_rank(other)
        return NotImplemented if rank is None else self.rank > rank

    def __ge__(self, other: object) -> bool:
        rank = self._other_rank(other)
        return NotImplemented if rank is None else self.rank >= rank

    def __str__(self) -> str:
        return self.value


_ORDER: tuple[Intensity, ...] = tuple(Intensity)

IntensityField = Annotated[
    Intensity,
    BeforeValidator(Intensity.parse),
    PlainSerializer(lambda v: v.value, return_type=str),
]
"""Pydantic field type that accepts every spelling `Intensity.parse` does."""
