"""Name search as people type it: one normal form for stored names and for queries.

Both sides go through ``normalise_name``, so 「林花子」 finds 「林 花子」, hiragana finds katakana,
half-width kana and full-width letters match their usual forms, and common variant kanji in family
names (髙/高, 﨑/崎, 齋/斎 …) match either way. The stored form is ``patient.name_search``.
"""

from __future__ import annotations

import unicodedata

# Variant (異体字) → the form most people type. Kept to family-name variants that are common in
# registers and that an IME does not offer first; both sides of a search fold the same way.
VARIANT_KANJI = str.maketrans(
    {
        "髙": "高",
        "﨑": "崎",
        "嵜": "崎",
        "齋": "斎",
        "齊": "斉",
        "邊": "辺",
        "邉": "辺",
        "澤": "沢",
        "濱": "浜",
        "濵": "浜",
        "嶋": "島",
        "嶌": "島",
        "櫻": "桜",
        "廣": "広",
        "國": "国",
        "眞": "真",
        "惠": "恵",
        "德": "徳",
        "壽": "寿",
        "榮": "栄",
        "藏": "蔵",
        "冨": "富",
        "槇": "槙",
        "曾": "曽",
        "條": "条",
        "瀨": "瀬",
        "𠮷": "吉",
        "黑": "黒",
        "兒": "児",
        "龍": "竜",
        "淺": "浅",
        "驒": "騨",
        "實": "実",
    }
)
DROPPED = frozenset(" \t\r\n\u3000・･-‐－")
KATAKANA_FIRST, KATAKANA_LAST, KANA_SHIFT = 0x30A1, 0x30F6, 0x60


def normalise_name(text: str | None) -> str:
    """NFKC (width, half-width kana), katakana → hiragana, variant kanji folded, no spaces, lower case."""
    if not text:
        return ""
    folded = unicodedata.normalize("NFKC", text).translate(VARIANT_KANJI).lower()
    out = []
    for ch in folded:
        if ch in DROPPED or ch.isspace():
            continue
        code = ord(ch)
        out.append(chr(code - KANA_SHIFT) if KATAKANA_FIRST <= code <= KATAKANA_LAST else ch)
    return "".join(out)


def search_key(name: str | None, kana: str | None) -> str:
    """The stored form: name and kana, each normalised, a space between so a query never spans both."""
    return f"{normalise_name(name)} {normalise_name(kana)}".strip()
