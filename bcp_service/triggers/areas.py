"""Reference data for Chiba: municipalities, JMA seismic areas and government-ordinance wards.

震度速報 (VXSE51) names only the Agency's seismic-intensity areas (地震情報／細分区域, e.g. 341
千葉県北西部), not municipalities, so a first trigger needs a table from area to municipality.

The assignment of Chiba's 54 municipalities to the three areas below is plausible demo data,
drawn by geography; it is not the Agency's table. Before production use, replace
`_AREA_MEMBERS` with the Agency's official list (「緊急地震速報や震度情報で用いる区域の名称」),
which is what decides which municipalities a 震度速報 covers.

To add another prefecture, extend the three tables; nothing else reads prefecture names.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

CHIBA_MUNICIPALITIES: dict[str, str] = {
    "121002": "千葉市",
    "122025": "銚子市",
    "122033": "市川市",
    "122041": "船橋市",
    "122050": "館山市",
    "122068": "木更津市",
    "122076": "松戸市",
    "122084": "野田市",
    "122106": "茂原市",
    "122114": "成田市",
    "122122": "佐倉市",
    "122131": "東金市",
    "122157": "旭市",
    "122165": "習志野市",
    "122173": "柏市",
    "122181": "勝浦市",
    "122190": "市原市",
    "122203": "流山市",
    "122211": "八千代市",
    "122220": "我孫子市",
    "122238": "鴨川市",
    "122246": "鎌ケ谷市",
    "122254": "君津市",
    "122262": "富津市",
    "122271": "浦安市",
    "122289": "四街道市",
    "122297": "袖ケ浦市",
    "122301": "八街市",
    "122319": "印西市",
    "122327": "白井市",
    "122335": "富里市",
    "122343": "南房総市",
    "122351": "匝瑳市",
    "122360": "香取市",
    "122378": "山武市",
    "122386": "いすみ市",
    "122394": "大網白里市",
    "123226": "酒々井町",
    "123293": "栄町",
    "123421": "神崎町",
    "123471": "多古町",
    "123498": "東庄町",
    "124036": "九十九里町",
    "124095": "芝山町",
    "124109": "横芝光町",
    "124214": "一宮町",
    "124222": "睦沢町",
    "124231": "長生村",
    "124249": "白子町",
    "124265": "長柄町",
    "124273": "長南町",
    "124419": "大多喜町",
    "124435": "御宿町",
    "124630": "鋸南町",
}

JMA_SEISMIC_AREAS: dict[str, str] = {
    "340": "千葉県北東部",
    "341": "千葉県北西部",
    "342": "千葉県南部",
}

# Demo assignment, see the module docstring: replace with the Agency's table in production.
_AREA_MEMBERS: dict[str, str] = {
    "340": (
        "銚子市 茂原市 成田市 東金市 旭市 八街市 富里市 匝瑳市 香取市 山武市 大網白里市 "
        "神崎町 多古町 東庄町 九十九里町 芝山町 横芝光町 一宮町 睦沢町 長生村 白子町 長柄町 長南町"
    ),
    "341": (
        "千葉市 市川市 船橋市 松戸市 野田市 佐倉市 習志野市 柏市 市原市 流山市 八千代市 "
        "我孫子市 鎌ケ谷市 浦安市 四街道市 印西市 白井市 酒々井町 栄町"
    ),
    "342": "館山市 木更津市 勝浦市 鴨川市 君津市 富津市 袖ケ浦市 南房総市 いすみ市 大多喜町 御宿町 鋸南町",
}

_CODE_BY_NAME = {name: code for code, name in CHIBA_MUNICIPALITIES.items()}

AREA_MUNICIPALITIES: dict[str, tuple[str, ...]] = {
    area: tuple(_CODE_BY_NAME[name] for name in names.split()) for area, names in _AREA_MEMBERS.items()
}
"""JMA seismic-area code → our 6-digit municipality codes."""

# Demo assignment of coastal municipalities to the Agency's 津波予報区, drawn by coastline; as
# with the seismic areas, replace with the official list before production use.
_TSUNAMI_MEMBERS: dict[str, str] = {
    "310": (  # 千葉県九十九里・外房
        "銚子市 旭市 匝瑳市 横芝光町 山武市 九十九里町 大網白里市 白子町 長生村 一宮町 いすみ市 御宿町 "
        "勝浦市 鴨川市 南房総市"
    ),
    "311": "館山市 南房総市 鋸南町 富津市 君津市 木更津市 袖ケ浦市",  # 千葉県内房
    "312": "市原市 千葉市 習志野市 船橋市 市川市 浦安市",  # 東京湾内湾 (its Chiba shore)
}

TSUNAMI_AREA_MUNICIPALITIES: dict[str, tuple[str, ...]] = {
    area: tuple(_CODE_BY_NAME[name] for name in names.split()) for area, names in _TSUNAMI_MEMBERS.items()
}
"""JMA 津波予報区 code → our coastal 6-digit municipality codes."""

# JMA reports 千葉市 by ward, under short names such as 千葉中央区.
WARD_TO_CITY: dict[str, str] = {
    "12101": "12100",  # 千葉市中央区
    "12102": "12100",  # 千葉市花見川区
    "12103": "12100",  # 千葉市稲毛区
    "12104": "12100",  # 千葉市若葉区
    "12105": "12100",  # 千葉市緑区
    "12106": "12100",  # 千葉市美浜区
}
"""Ward 5-digit code → city 5-digit code, for government-ordinance cities."""


def municipalities_for_area(
    area_code: str,
    known_codes: Collection[str] | None = None,
    table: Mapping[str, tuple[str, ...]] = AREA_MUNICIPALITIES,
) -> tuple[str, ...]:
    """Our municipalities inside a JMA seismic area, limited to `known_codes` when given."""
    members = table.get(area_code, ())
    if known_codes is None:
        return members
    return tuple(code for code in members if code in known_codes)


def municipality_name(code: str) -> str:
    """Japanese name for messages; falls back to the code for municipalities outside the table."""
    return CHIBA_MUNICIPALITIES.get(code, code)
