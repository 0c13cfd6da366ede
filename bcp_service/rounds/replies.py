"""Reading a free-text SMS answer to a safety-check message, as people write it.

The result is the structured answer (state, power, hours left or "don't know", transport,
admission, where evacuated). The parser is cautious: it returns a state only when the reply points
at one, and flags for a person anything it would have to guess (``ambiguous``: the review queue
gets the text). The rules, with the corpus that holds them (tests/rounds/replies_corpus.tsv):

- Digits and words come from the one table of states (check_states); full-width digits and
  letters, half-width kana and circled digits are folded first (NFKC).
- Negations are removed before words are matched: 「大丈夫じゃない」「無事ではない」 are not safe,
  「停電していない」「停電してません」 are power on, 「助けは不要」 is not a call for help.
- Distress in the reporter's words (「倒れました」「意識がない」「アラームが鳴り続けている」
  「救急車」「ぐったり」) is a call for help.
- Ranges give their lower bound and are never a menu digit: 「1〜2時間」「4-5時間」「1~2h」
  「一、二時間」「二三時間」「2、3時間」 are 1, 4, 1, 1, 2 and 2 hours (``_ranges`` rewrites them
  before anything else reads the text).
- Hours: 「3時間」「2.5h」「三時間半」「30分」「1日もつ」; a time in the past or future
  (「3時間前から」) is not what is left. 「十分」「充分」「満タン」 mean *enough*, never ten minutes;
  「わからない」「不明」 about the reserve is an explicit unknown; 「バッテリーがない」「電池切れ」
  is zero hours, and a call for help.
- 「止まった」「動かない」 of a device (ventilator, concentrator, suction) is a call for help;
  of the electricity, a power cut.
- 「入院しました」 is admitted, 「入院したい」 a transport with admission; 「避難しました」
  (「○○小学校に避難」) is evacuated (and where), 「避難したい」 a transport. A bare 「入院」 or
  「避難」 goes to a person.
- Several answers combine when they cannot contradict: power out with any other state keeps the
  other state (power recorded as out), help with transport is transport. Safe against a call for
  help, or two different whereabouts, go to a person.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bcp_service import check_states as states

SAFE = "safe"
NEEDS_HELP = "needs_help"
POWER_OUT = "power_out"
NEEDS_TRANSPORT = "needs_transport"
ADMITTED = "admitted"
EVACUATED = "evacuated"
STATES = states.ANSWER_CODES
DIGIT_STATES = {int(d): code for d, code in states.DIGITS.items()}

# Replies are short; anything longer is read only as far as this.
MAX_CHARS = 2000


@dataclass(frozen=True, slots=True)
class ParsedReply:
    state: str | None
    hours: float | None
    ambiguous: bool
    reason: str
    power: str | None = None  # "on" / "out" / None (not said)
    hours_unknown: bool = False
    needs_transport: bool = False
    needs_admission: bool = False
    evacuated_to: str | None = None


_ASCII_WORDS = {code: tuple(w for w in words if w.isascii()) for code, words in states.WORDS.items()}
_JA_WORDS = {code: tuple(w for w in words if not w.isascii()) for code, words in states.WORDS.items()}
_EN_PATTERNS = {
    code: re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.ASCII)
    for code, words in _ASCII_WORDS.items()
    if words
}
_EN_EXTRA = {NEEDS_TRANSPORT: re.compile(r"\b(?:evacuate|evacuation)\b", re.ASCII)}

_JA_SAFE_WORDS = "大丈夫|だいじょうぶ|だいじょぶ|無事|ぶじ|元気|げんき|安全|平気"
# re.ASCII keeps \b and \w to ASCII, so "okです" still has a word boundary after "ok".
_NEGATED_SAFE = re.compile(
    rf"(?:{_JA_SAFE_WORDS})\s*(?:じゃ|では|でわ|で|が|は)?\s*(?:ない|なく|無い|ありません|ねえ|ねー)"
    r"|問題\s*(?:が)?\s*(?:ある|あり)(?!ませ)"
    r"|\b(?:not|isn'?t|aren'?t|am\s+not|no\s+longer|never)\s+(?:ok|okay|safe|fine)\b"
    r"|\bunsafe\b",
    re.ASCII,
)
_POWER_ON = re.compile(
    r"(?:停電|ていでん)\s*(?:は|が|も)?\s*(?:し|して|してい|してお|しちゃ|して無)?\s*"
    r"(?:ない|なし|無し|ありません|ません|りません|いません|ないです|なかった|しなかった|ねえ|ねー)"
    r"|(?:停電|ていでん)\s*(?:から|は|が|も)?\s*(?:復旧|回復|直|なお|終わ|おわ)|復電|通電|"
    r"(?:電気|でんき)\s*(?:は|が|も)?\s*(?:来て|きて|つ|点|通|戻|もど|復旧|回復|大丈夫|だいじょうぶ|問題な|ok)"
    r"(?![^\s。、]{0,4}(?:ない|ません|なく|へん|ひん|ねえ|ねー))"
    r"|(?:電気|でんき)\s*(?:は|が|も)?\s*(?:止まって|とまって|切れて|きれて|消えて|きえて|落ちて)\s*(?:い)?\s*(?:ない|ません)"
    r"|\bno\s+(?:power\s+)?(?:outage|blackout)\b|\bpower\s+(?:is\s+)?(?:on|back)\b",
    re.ASCII,
)
_POWER_OUT = re.compile(
    r"(?:電気|でんき)\s*(?:が|は|も)?\s*(?:止ま|とま|切れ|きれ|消え|きえ|落ち|おち|つかない|点かない|来てない|きてない|来ない|こない|ない"
    r"|つかへん|点かへん|つかん|来てへん|きてへん|来(?:ー|え)へん|こ(?:ー|お)へん|きてない)"
    r"(?!(?:って|て)\s*(?:い)?\s*(?:ない|ません))"
    r"|ブレーカー|電源\s*(?:が|は)?\s*(?:ない|切れ|入らない)",
)
_NEGATED_OTHER = re.compile(
    r"(?:助け|救助|搬送|移動|避難|迎え|入院)\s*(?:は|が)?\s*"
    r"(?:不要|いらない|要らない|必要ない|必要なし|必要ありません|なし|無し|しなくて|しません|しない)"
    r"|\bno\s+(?:help|transport)(?:\s+needed)?\b"
    r"|\b(?:don'?t|do\s+not)\s+need\s+(?:help|transport)\b",
    re.ASCII,
)
_DEVICE = r"(?:人工呼吸器|呼吸器|こきゅうき|ベンチレーター|濃縮器|酸素|吸引器|吸引機|機械|機器|器械|ポンプ)"
_DISTRESS = re.compile(
    r"倒れ|たおれ|意識\s*(?:が|は)?\s*(?:ない|無い|もうろう|朦朧|おかしい|ありません)|反応\s*(?:が|は)?\s*(?:ない|無い|鈍い)"
    r"|返事\s*(?:が|を)?\s*(?:ない|しない)|アラーム|警報音|救急車|ぐったり|顔色\s*(?:が)?\s*悪|唇\s*(?:が)?\s*紫"
    r"|チアノーゼ|けいれん|痙攣|息\s*(?:が)?\s*(?:苦し|くるし|できな|しづら|しにく|荒)|呼吸\s*(?:が)?\s*(?:苦し|おかしい|止ま|弱)"
    r"|酸素\s*(?:が|は)?\s*(?:足りない|たりない|なくなりそう|切れそう)|サチュレーション\s*(?:が)?\s*(?:低|下が)"
    r"|spo2\s*(?:が)?\s*(?:低|下が|[1-8]\d(?!\d))|熱\s*(?:が|も)?\s*(?:ある|出|高)|発熱|怪我|けが|ケガ|出血|動けない|うごけない"
    r"|(?:来|き)て\s*(?:ください|下さい|くれ|欲しい|ほしい)|やばい|ヤバい|まずい|ダメ(?:です|だ)?$|だめ(?:です|だ)?$"
    r"|\b(?:emergency|ambulance|collapsed|can'?t\s+breathe|not\s+breathing|alarm)\b",
)
_DEVICE_STOPPED = re.compile(
    rf"{_DEVICE}\s*(?:が|は|も|の)?\s*(?:止ま|とま|動かな|うごかな|動きませ|故障|壊れ|こわれ|鳴って|アラーム)"
)
_ADMITTED = re.compile(
    r"入院\s*(?:しました|した(?![いらくほ])|しています|してます|している|してる|中|済|になりました|になった|しており)"
)
_WANTS_ADMISSION = re.compile(
    r"入院\s*(?:を|が)?\s*(?:したい|させて|させたい|必要|希望|お願い|できる|できま|先|させてほしい|したほうが)"
)
_EVACUATED = re.compile(
    r"避難\s*(?:しました|した(?![いらくほ])|しています|してます|している|してる|中|済|完了|しており)"
    r"|避難所\s*(?:に|で)\s*(?:います|いる|おります|過ごして)|避難所です"
)
_EVACUATED_TO = re.compile(r"([^\s、。,.!！?？]{1,20}?)\s*(?:に|へ)\s*避難(?:しま|した(?!い)|して|中|済|完了)")
_SHELTER = re.compile(r"([^\s、。,.!！?？]{0,20}避難所)")
_CAUSE = re.compile(r".*(?:ため|ので|から|けど|けれど)")
_WANTS_EVACUATION = re.compile(
    r"避難\s*(?:を|が)?\s*(?:したい|させて|させたい|必要|できな|できません|手伝|お願い|させてほしい|したほうが|する方法|先がない)"
    r"|\bevacuat(?:e|ion)\b"
)
_BARE = re.compile(r"入院|避難")

_NUMBER = r"(?<![\d.])(\d+(?:\.\d+)?)"
# "3時間前" / "3 hours ago" say when something started, not what is left; the
# optional 半 / minutes stop backtracking from turning "3時間半前" into "3時間".
_NOT_REMAINING = r"(?!\s*(?:半|\d+\s*分)?\s*(?:前|後|ago\b|later\b|おき|ごと|毎|以上前))"
_HOURS_JA = re.compile(rf"{_NUMBER}\s*時間\s*(?:(半)|(\d+)\s*分)?{_NOT_REMAINING}", re.ASCII)
_HOURS_EN = re.compile(rf"{_NUMBER}\s*(?:h|hr|hrs|hours?)\b{_NOT_REMAINING}", re.ASCII)
_MINUTES = re.compile(rf"{_NUMBER}\s*(?:分|mins?\b|minutes?\b){_NOT_REMAINING}", re.ASCII)
_DAYS = re.compile(rf"{_NUMBER}\s*日\s*(?:分|くらい|ぐらい|ほど|程度)?\s*(?:は|なら)?\s*(?:もつ|持つ|もち|持ち|分ある)")
_HALF_DAY = re.compile(r"半日\s*(?:くらい|ぐらい|ほど|程度)?\s*(?:は|なら)?\s*(?:もつ|持つ|もち|持ち|分)")
_RESERVE = r"(?:バッテリー|ばってりー|バッテリ|電池|充電|予備|酸素|ボンベ|ぼんべ|残量|残り|のこり)"
_ENOUGH = re.compile(r"十分|充分|じゅうぶん|たっぷり|満タン|満充電|フル充電|いっぱい|余裕")
_RESERVE_UNKNOWN = re.compile(
    rf"{_RESERVE}[^。]{{0,12}}?(?:わからない|分からない|わかりません|分かりません|不明|わかんない|知らない)"
    rf"|(?:何時間|なんじかん|どのくらい|どれくらい)[^。]{{0,10}}?(?:わからない|分からない|わかりません|分かりません|不明)"
)
_RESERVE_EMPTY = re.compile(
    rf"{_RESERVE}\s*(?:が|は|も)?\s*(?:もう)?\s*(?:ない|無い|なし|ありません|切れ|きれ|なくな|空|から|ゼロ|0(?![\d.]))"
    r"|(?:電池|バッテリー|充電)切れ"
)
# Numbers that are durations, times, dates or quantities are not answers.
_NOT_AN_ANSWER = re.compile(
    r"\d+(?:\.\d+)?\s*(?:時間|分|時|秒|日|月|年|人|名|階|丁目|番地|号|歳|才|%|回|本|台|個|度|円|リットル|l\b|kg\b"
    r"|hours?\b|hrs?\b|h\b|mins?\b|minutes?\b|ago\b)"
    r"|\d{1,2}:\d{2}|\d{2,}-\d+",
    re.ASCII,
)
_ANSWER_NUMBER = re.compile(r"(?<![\d.])(\d+)(?!\d|\.\d)", re.ASCII)
_KANJI_DIGITS = {"〇": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
# Kanji numerals before 時間 / 分 / 日; a bare 十分 is "enough" and is left alone.
_KANJI_NUMBER = re.compile(
    r"[一二三四五六七八九十]+(?=\s*(?:時間|日))|[一二三四五六七八九]十?[一二三四五六七八九]?(?=\s*分)"
)
_TEN_MINUTES = re.compile(r"(?:あと|残り|のこり)\s*十分")
NEEDING = {NEEDS_HELP, POWER_OUT, NEEDS_TRANSPORT}


def parse_reply(text: str | None) -> ParsedReply:
    """Read a reply into the structured answer (see the module's rules)."""
    if text is None:
        return ParsedReply(None, None, False, "empty")
    normalised = _ranges(normalise(text))
    if not normalised:
        return ParsedReply(None, None, False, "empty")

    hours, hours_unknown, empty = _hours(normalised)
    negated_safe = bool(_NEGATED_SAFE.search(normalised))
    power_on = bool(_POWER_ON.search(normalised))
    negated_other = bool(_NEGATED_OTHER.search(normalised))
    remainder = _POWER_ON.sub(" ", _NEGATED_OTHER.sub(" ", _NEGATED_SAFE.sub(" ", normalised)))

    found = _digit_states(remainder)
    reason = "matched_digit" if found else "matched_keyword"
    found |= _keyword_states(remainder)
    flags = {"needs_transport": False, "needs_admission": False, "evacuated_to": None}
    if _POWER_OUT.search(remainder):
        found.add(POWER_OUT)
    if _DEVICE_STOPPED.search(remainder) or _DISTRESS.search(remainder) or empty:
        found.add(NEEDS_HELP)
    whereabouts = _whereabouts(remainder, found, flags)
    if whereabouts == "bare":
        return ParsedReply(None, hours, True, "admission_or_evacuation_unclear", hours_unknown=hours_unknown)

    state, conflict = _combine(found)
    power = "out" if POWER_OUT in found else ("on" if power_on else None)
    common = {
        "power": power,
        "hours_unknown": hours_unknown,
        "needs_transport": flags["needs_transport"] or state == NEEDS_TRANSPORT,
        "needs_admission": flags["needs_admission"],
        "evacuated_to": flags["evacuated_to"],
    }
    if _TEN_MINUTES.search(normalised):
        # 「あと十分」: ten minutes, or "enough"? Either reading is dangerous when wrong.
        return ParsedReply(None, None, True, "ten_minutes_or_enough", **common)
    if conflict:
        return ParsedReply(None, hours, True, "conflicting_answers", **common)
    if state is not None:
        if state == SAFE and negated_safe:
            return ParsedReply(None, hours, True, "conflicting_answers", **common)
        return ParsedReply(state, hours, False, reason, **common)
    if negated_safe:
        return ParsedReply(None, hours, True, "negated_safe", **common)
    if power_on:
        return ParsedReply(None, hours, True, "power_on_only", **common)
    if hours is not None or hours_unknown:
        return ParsedReply(None, hours, True, "hours_only", **common)
    if negated_other:
        return ParsedReply(None, None, True, "negation_only")
    return ParsedReply(None, None, False, "unreadable")


def _combine(found: set[str]) -> tuple[str | None, bool]:
    """One state from several, or a conflict for a person. Power out joins any state."""
    if not found:
        return None, False
    others = found - {POWER_OUT}
    if not others:
        return POWER_OUT, False
    needing = others & NEEDING
    settled = others - NEEDING
    if needing and settled:
        return None, True
    if needing:
        return (NEEDS_TRANSPORT if NEEDS_TRANSPORT in needing else NEEDS_HELP), False
    if settled - {SAFE}:
        where = settled - {SAFE}
        if len(where) > 1 or POWER_OUT in found:
            return None, True
        return where.pop(), False
    return (POWER_OUT if POWER_OUT in found else SAFE), False


def _whereabouts(text: str, found: set[str], flags: dict) -> str | None:
    """Admitted / evacuated / wants either; "bare" when 入院 or 避難 is said without which."""
    said = False
    if _ADMITTED.search(text):
        found.add(ADMITTED)
        said = True
    if _WANTS_ADMISSION.search(text):
        found.add(NEEDS_TRANSPORT)
        flags["needs_admission"] = flags["needs_transport"] = said = True
    if _WANTS_EVACUATION.search(text):
        found.add(NEEDS_TRANSPORT)
        flags["needs_transport"] = said = True
    elif _EVACUATED.search(text) or _EVACUATED_TO.search(text):
        found.add(EVACUATED)
        said = True
        m = _EVACUATED_TO.search(text) or _SHELTER.search(text)
        if m:
            place = _CAUSE.sub("", m.group(1)).strip("「」『』()（）の")
            flags["evacuated_to"] = place[:200] or None
    if not said and _BARE.search(text):
        return "bare"
    return None


_RANGE_SEPARATOR = r"\s*(?:〜|~|-|−|–|—|ー|から|か|or|to)\s*"
_LIST_SEPARATOR = r"\s*[、,・]\s*"
_UNIT = r"(?=\s*(?:時間|h\b|hr|hours?\b|分|mins?\b|minutes?\b|日))"
_RANGE = re.compile(
    rf"(?<![\d.])(\d+(?:\.\d+)?)(?:{_RANGE_SEPARATOR}(\d+(?:\.\d+)?)|{_LIST_SEPARATOR}(\d+)){_UNIT}", re.ASCII
)
_KANJI_RANGE = re.compile(
    rf"([一二三四五六七八九])(?:{_RANGE_SEPARATOR}|{_LIST_SEPARATOR})?([一二三四五六七八九]){_UNIT}"
)


def _ranges(text: str) -> str:
    """「1〜2時間」「2、3時間」「一、二時間」「二三時間」 → the lower bound (「1時間」...): the safe
    reading for triage, and the first number is not left behind to be read as a menu digit. Listed
    numbers (「2、3時間」) are a range only when consecutive, as people write "two or three"."""

    def arabic(m: re.Match) -> str:
        low, high, listed = m.group(1), m.group(2), m.group(3)
        if listed is not None:
            return low if int(listed) == float(low) + 1 else m.group(0)
        return low if float(high) >= float(low) else m.group(0)

    def kanji(m: re.Match) -> str:
        low, high = _KANJI_DIGITS[m.group(1)], _KANJI_DIGITS[m.group(2)]
        return m.group(1) if high == low + 1 else m.group(0)

    return _KANJI_RANGE.sub(kanji, _RANGE.sub(arabic, text))


def normalise(text: str) -> str:
    """NFKC (full-width digits and letters, half-width kana, circled digits), trimmed, lower-cased."""
    folded = unicodedata.normalize("NFKC", text[:MAX_CHARS]).strip().lower()
    return re.sub(r"\s+", " ", folded)


def _hours(text: str) -> tuple[float | None, bool, bool]:
    """(hours left, said "don't know", said there is nothing left)."""
    unknown = bool(_RESERVE_UNKNOWN.search(text))
    empty = bool(_RESERVE_EMPTY.search(text)) and not _ENOUGH.search(text)
    hours = extract_hours(text)
    if hours is None and empty:
        hours = 0.0
    if hours is not None:
        unknown = False
    return hours, unknown, empty


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
    found.extend(24 * float(m.group(1)) for m in _DAYS.finditer(text))
    if _HALF_DAY.search(text):
        found.append(12.0)
    if not found:
        # Minutes only count when no hours were given, so "1時間30分" is not read twice.
        found.extend(float(m.group(1)) / 60 for m in _MINUTES.finditer(text))
    if not found:
        return None
    return round(min(found), 2)


# A reply that is only a menu number spelt out: 「いち」「イチ」「ichi」「さん」.
# Not 5 (「ご」「go」): a word misread as "admitted" would hide someone; it goes to a person instead.
_NUMBER_WORDS = {
    "いち": 1,
    "イチ": 1,
    "ichi": 1,
    "に": 2,
    "ニ": 2,
    "ni": 2,
    "さん": 3,
    "サン": 3,
    "san": 3,
    "よん": 4,
    "ヨン": 4,
    "yon": 4,
    "ろく": 6,
    "ロク": 6,
    "roku": 6,
}
_NUMBER_WORD = re.compile(
    r"^(" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")\s*(?:です|番|ばん)?\s*[。.!！ー〜~]*$"
)


def _digit_states(text: str) -> set[str]:
    word = _NUMBER_WORD.match(text.strip())
    if word:
        return {DIGIT_STATES[_NUMBER_WORDS[word.group(1)]]}
    # Numbers outside the menu are ignored: alone they leave the reply unreadable,
    # next to a word they are usually a room number or a percentage.
    cleaned = _NOT_AN_ANSWER.sub(" ", text)
    found = (DIGIT_STATES.get(int(m.group(1))) for m in _ANSWER_NUMBER.finditer(cleaned))
    return {state for state in found if state is not None}


def _keyword_states(text: str) -> set[str]:
    found: set[str] = set()
    for state, words in _JA_WORDS.items():
        if any(word in text for word in words):
            found.add(state)
    for state, pattern in _EN_PATTERNS.items():
        if pattern.search(text):
            found.add(state)
    for state, pattern in _EN_EXTRA.items():
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
