"""The one table of check states: code, Japanese label, group, reply digit and words, triage weight.

Every place that names a state reads it from here: the SMS and voice templates (the reply menu and
the keypad prompt), the reply parser (digits and words), the board and the nurse page (labels,
the "needs help" set), the BCP call list, the database's partial-index conditions and the exports.
``tests/rounds/test_states_table.py`` fails when any of them disagrees with this table.

Groups:
- ``safe``: the person is accounted for (at home and well, admitted to hospital, evacuated);
- ``needs_help``: someone must act (help, power out, transport);
- ``silent``: not heard from (no answer yet, unreachable, the message failed).

Triage weight orders people of the same device and dependence with the same hours left (lower
first); see ``rounds.triage``.

This module imports nothing from the project so that the tables (``models``) can read it.
"""

from __future__ import annotations

from dataclasses import dataclass

SAFE_GROUP = "safe"
NEEDS_HELP_GROUP = "needs_help"
SILENT_GROUP = "silent"
GROUP_LABELS = {SAFE_GROUP: "無事・所在確認", NEEDS_HELP_GROUP: "要支援等", SILENT_GROUP: "未回答・連絡不能"}


@dataclass(frozen=True)
class StateDef:
    code: str
    label: str  # what pages, messages and exports show
    group: str
    digit: str | None  # SMS reply digit and voice keypad key; None: not something a person answers
    short: str  # the word in the SMS reply menu ("1無事 2要支援 ...")
    voice: str | None  # the keypad prompt's phrase ("無事な場合は1を")
    words: tuple[str, ...]  # reply words that mean this state (the parser adds negations and context)
    weight: int  # triage weight within the same dependence and hours (lower: sooner)
    answer: bool  # a person (or a nurse) can give it as an answer
    nurse: bool  # a nurse can record it
    button: str | None = None  # the answer page's button


STATES: tuple[StateDef, ...] = (
    StateDef(
        "safe",
        "無事",
        SAFE_GROUP,
        "1",
        "無事",
        "無事な場合は",
        (
            "無事",
            "ぶじ",
            "大丈夫",
            "だいじょうぶ",
            "だいじょぶ",
            "なんともない",
            "何ともない",
            "問題ない",
            "問題なし",
            "問題はない",
            "問題ありません",
            "元気",
            "げんき",
            "平気",
            "変わりない",
            "変わりなし",
            "異常なし",
            "異常ない",
            "ok",
            "okay",
            "safe",
            "fine",
        ),
        9,
        True,
        True,
        "無事です",
    ),
    StateDef(
        "needs_help",
        "要支援",
        NEEDS_HELP_GROUP,
        "2",
        "要支援",
        "助けが必要な場合は",
        (
            "助けて",
            "たすけて",
            "助け",
            "救助",
            "危険",
            "苦しい",
            "くるしい",
            "息ができない",
            "呼吸が苦しい",
            "来てほしい",
            "来て欲しい",
            "きてほしい",
            "来てください",
            "help",
            "sos",
        ),
        1,
        True,
        True,
        "助けが必要",
    ),
    StateDef(
        "power_out",
        "停電",
        NEEDS_HELP_GROUP,
        "3",
        "停電",
        "停電している場合は",
        (
            "停電",
            "ていでん",
            "電気が来ない",
            "電気がこない",
            "電気が来てない",
            "電気きてない",
            "電気来てない",
            "電気がない",
            "電気が止まった",
            "電気止まった",
            "電気が切れた",
            "power",
            "outage",
            "blackout",
        ),
        0,
        True,
        True,
        "停電しています",
    ),
    StateDef(
        "needs_transport",
        "搬送必要",
        NEEDS_HELP_GROUP,
        "4",
        "搬送",
        "搬送や避難の手助けが必要な場合は",
        (
            "搬送",
            "迎え",
            "むかえ",
            "連れて行って",
            "連れていって",
            "つれていって",
            "つれてって",
            "運んで",
            "transport",
            "pick up",
        ),
        2,
        True,
        True,
        "搬送・避難の手助けが必要",
    ),
    StateDef(
        "admitted",
        "入院済み",
        SAFE_GROUP,
        "5",
        "入院",
        "入院している場合は",
        ("入院しました", "入院中", "入院しています", "入院してます", "admitted"),
        8,
        True,
        True,
        "入院しています",
    ),
    StateDef(
        "evacuated",
        "避難済み",
        SAFE_GROUP,
        "6",
        "避難",
        "避難している場合は",
        ("避難しました", "避難中", "避難しています", "避難してます", "避難所にいます", "evacuated"),
        7,
        True,
        True,
        "避難しています（避難先を下に）",
    ),
    StateDef("no_answer", "未回答", SILENT_GROUP, None, "未回答", None, (), 3, False, False),
    StateDef("unreachable", "連絡不能", SILENT_GROUP, None, "連絡不能", None, (), 4, False, True),
    StateDef("delivery_failed", "送信失敗", SILENT_GROUP, None, "送信失敗", None, (), 5, False, False),
)

BY_CODE = {s.code: s for s in STATES}
CODES = tuple(s.code for s in STATES)
LABELS = {s.code: s.label for s in STATES}
ANSWER_CODES = tuple(s.code for s in STATES if s.answer)
NURSE_CODES = tuple(s.code for s in STATES if s.nurse)
DIGITS = {s.digit: s.code for s in STATES if s.digit}
WEIGHTS = {s.code: s.weight for s in STATES}
WORDS = {s.code: s.words for s in STATES if s.words}


POWER_LABELS = {"on": "通電", "out": "停電", "unknown": "不明"}  # the answer's power field


def in_group(group: str) -> tuple[str, ...]:
    return tuple(s.code for s in STATES if s.group == group)


SAFE = in_group(SAFE_GROUP)
NEEDING = in_group(NEEDS_HELP_GROUP)
SILENT = in_group(SILENT_GROUP)


def sql_in(codes: tuple[str, ...], column: str = "state") -> str:
    """A partial index's condition over these states (text: the migrations compare it)."""
    return f"{column} IN ({', '.join(repr(c) for c in codes)})"


def reply_menu() -> str:
    """The SMS reply menu: ``1無事 2要支援 3停電 4搬送 5入院 6避難``."""
    return " ".join(f"{s.digit}{s.short}" for s in STATES if s.digit)


def keypad_prompt() -> str:
    """The voice call's question, one phrase per key."""
    return "、".join(f"{s.voice}{s.digit}を" for s in STATES if s.digit) + "押してください。"


def label(code: str | None) -> str:
    return LABELS.get(code or "", code or "")
