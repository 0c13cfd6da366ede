"""Reading a free-text SMS answer to a safety-check message.

The parser is deliberately cautious: it only returns a state when the reply
points at exactly one, and flags anything a person should read as ambiguous.
Reading "大丈夫じゃない" as safe would hide someone who needs help, so
negations are removed before keywords are matched.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

SAFE = "safe"
NEEDS_HELP = "needs_help"
POWER_OUT = "power_out"
NEEDS_TRANSPORT = "needs_transport"
STATES = (SAFE, NEEDS_HELP, POWER_OUT, NEEDS_TRANSPORT)

DIGIT_STATES = {1: SAFE, 2: NEEDS_HELP, 3: POWER_OUT, 4: NEEDS_TRANSPORT}

# Replies are short; anything longer is read only as far as this.
MAX_CHARS = 2000


@dataclass(frozen=True, slots=True)
class ParsedReply:
    state: str | None
    hours: float | None
    ambiguous: bool
    reason: str


# Kana spellings are included because people often send before converting to kanji.
_JA_KEYWORDS: dict[str, tuple[str, ...]] = {
    SAFE: ("無事", "ぶじ", "大丈夫", "だいじょうぶ", "問題ない", "問題なし", "問題はない",
           "問題ありません", "元気", "げんき"),
    NEEDS_HELP: ("助けて", "たすけて", "助け", "救助", "危険", "苦しい", "くるしい"),
    POWER_OUT: ("停電", "ていでん", "電気が来ない", "電気がこない", "電気が来てない",
                "電気がない", "電源", "バッテリー"),
    NEEDS_TRANSPORT: ("搬送", "移動", "避難", "迎え", "むかえ", "入院"),
}
_EN_KEYWORDS: dict[str, tuple[str, ...]] = {
    SAFE: ("ok", "okay", "safe", "fine"),
    NEEDS_HELP: ("help", "sos"),
    POWER_OUT: ("power", "outage", "blackout", "battery"),
    NEEDS_TRANSPORT: ("transport", "evacuate", "evacuation", "pick up"),
}

_JA_SAFE_WORDS = "大丈夫|だいじょうぶ|無事|ぶじ|元気|げんき|安全"
# re.ASCII keeps \b and \w to ASCII, so "okです" still has a word boundary after "ok".
_NEGATED_SAFE = re.compile(
    rf"(?:{_JA_SAFE_WORDS})\s*(?:じゃ|では|でわ|で|が|は)?\s*(?:ない|なく|無い|ありません|ねえ|ねー)"
    r"|問題\s*(?:が)?\s*(?:ある|あり)(?!ませ)"
    r"|\b(?:not|isn'?t|aren'?t|am\s+not|no\s+longer|never)\s+(?:ok|okay|safe|fine)\b"
    r"|\bunsafe\b",
    re.ASCII,
)
# "No outage", "no help needed": they deny a state rather than assert one.
_NEGATED_OTHER = re.compile(
    r"(?:停電|ていでん)\s*(?:は|が)?\s*(?:して)?\s*(?:い)?\s*"
    r"(?:ない|なし|無し|ありません|していません|なかった)"
    r"|(?:助け|救助|搬送|移動|避難|迎え|入院)\s*(?:は|が)?\s*"
    r"(?:不要|いらない|要らない|必要ない|必要なし|必要ありません|なし|無し)"
    r"|\bno\s+(?:help|transport|outage|power\s+outage|blackout)(?:\s+needed)?\b"
    r"|\b(?:don'?t|do\s+not)\s+need\s+(?:help|transport)\b",
    re.ASCII,
)

_NUMBER = r"(?<![\d.])(\d+(?:\.\d+)?)"
# "3時間前" / "3 hours ago" say when something started, not what is left; the
# optional 半 / minutes stop backtracking from turning "3時間半前" into "3時間".
_NOT_REMAINING = r"(?!\s*(?:半|\d+\s*分)?\s*(?:前|後|ago\b|later\b))"
_HOURS_JA = re.compile(
    rf"{_NUMBER}\s*時間\s*(?:(半)|(\d+)\s*分)?{_NOT_REMAINING}", re.ASCII
)
_HOURS_EN = re.compile(rf"{_NUMBER}\s*(?:h|hr|hrs|hours?)\b{_NOT_REMAINING}", re.ASCII)
_MINUTES = re.compile(rf"{_NUMBER}\s*(?:分|mins?\b|minutes?\b){_NOT_REMAINING}", re.ASCII)
# Numbers that are durations, times, dates or quantities are not answers.
_NOT_AN_ANSWER = re.compile(
    r"\d+(?:\.\d+)?\s*(?:時間|分|時|秒|日|月|年|人|名|階|丁目|番地|号|歳|才|%|回|本|台|個|度|円"
    r"|l\b|kg\b|hours?\b|hrs?\b|h\b|mins?\b|minutes?\b|ago\b)"
    r"|\d{1,2}:\d{2}",
    re.ASCII,
)
_ANSWER_NUMBER = re.compile(r"(?<![\d.])(\d+)(?!\d|\.\d)", re.ASCII)
_EN_PATTERNS = {
    state: re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.ASCII)
    for state, words in _EN_KEYWORDS.items()
}

_KANJI_DIGITS = {"〇": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
                 "九": 9, "十": 10}
_KANJI_NUMBER = re.compile(r"[一二三四五六七八九十]+(?=\s*(?:時間|分))")


def parse_reply(text: str | None) -> ParsedReply:
    """Read a reply into one of STATES, plus remaining battery/oxygen hours if stated."""
    if text is None:
        return ParsedReply(None, None, False, "empty")
    normalised = normalise(text)
    if not normalised:
        return ParsedReply(None, None, False, "empty")

    hours = extract_hours(normalised)
    negated_safe = bool(_NEGATED_SAFE.search(normalised))
    negated_other = bool(_NEGATED_OTHER.search(normalised))
    remainder = _NEGATED_OTHER.sub(" ", _NEGATED_SAFE.sub(" ", normalised))

    digit_states = _digit_states(remainder)
    keyword_states = _keyword_states(remainder)
    states = digit_states | keyword_states

    if len(states) > 1:
        return ParsedReply(None, hours, True, "conflicting_answers")
    if states:
        (state,) = states
        if state == SAFE and negated_safe:
            return ParsedReply(None, hours, True, "conflicting_answers")
        reason = "matched_digit" if digit_states else "matched_keyword"
        return ParsedReply(state, hours, False, reason)
    if negated_safe:
        return ParsedReply(None, hours, True, "negated_safe")
    if hours is not None:
        return ParsedReply(None, hours, True, "hours_only")
    if negated_other:
        return ParsedReply(None, None, True, "negation_only")
    return ParsedReply(None, None, False, "unreadable")


def normalise(text: str) -> str:
    """NFKC (full-width digits and letters, half-width kana), trimmed, lower-cased."""
    folded = unicodedata.normalize("NFKC", text[:MAX_CHARS]).strip().lower()
    return re.sub(r"\s+", " ", folded)


def extract_hours(text: str) -> float | None:
    """Remaining hours stated in the reply; the smallest if several are given.

    The smallest is the safe choice for triage: "battery 3 hours, cylinder 2 hours"
    leaves the patient two hours.
    """
    text = _KANJI_NUMBER.sub(lambda m: str(_kanji_to_int(m.group(0))), text)
    found: list[float] = []
    for match in _HOURS_JA.finditer(text):
        value = float(match.group(1))
        if match.group(2):
            value += 0.5
        elif match.group(3):
            value += float(match.group(3)) / 60
        found.append(value)
    found.extend(float(m.group(1)) for m in _HOURS_EN.finditer(text))
    if not found:
        # Minutes only count when no hours were given, so "1時間30分" is not read twice.
        found.extend(float(m.group(1)) / 60 for m in _MINUTES.finditer(text))
    if not found:
        return None
    return round(min(found), 2)


def _digit_states(text: str) -> set[str]:
    # Numbers outside 1-4 are ignored: alone they leave the reply unreadable,
    # next to a keyword they are usually a room number or a percentage.
    cleaned = _NOT_AN_ANSWER.sub(" ", text)
    found = (DIGIT_STATES.get(int(m.group(1))) for m in _ANSWER_NUMBER.finditer(cleaned))
    return {state for state in found if state is not None}


def _keyword_states(text: str) -> set[str]:
    found: set[str] = set()
    for state, words in _JA_KEYWORDS.items():
        if any(word in text for word in words):
            found.add(state)
    for state, pattern in _EN_PATTERNS.items():
        if pattern.search(text):
            found.add(state)
    return found


def _kanji_to_int(numeral: str) -> int:
    if "十" not in numeral:
        value = 0
        for ch in numeral:
            value = value * 10 + _KANJI_DIGITS[ch]
        return value
    tens, _, ones = numeral.partition("十")
    return (_KANJI_DIGITS[tens] if tens else 1) * 10 + (_KANJI_DIGITS[ones] if ones else 0)
