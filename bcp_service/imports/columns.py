"""The CSV columns of each kind of record: one table drives the importer, the exporter and the docs.

A column has an English header (its ``key``), a Japanese header, a ``kind`` that decides how the
cell is read and written, and the schema field it feeds. Either header is accepted on import;
the export writes the Japanese one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from bcp_service.channels import own_address_channels
from bcp_service.imports import values
from bcp_service.models.enums import INSTITUTION_KIND_JA
from bcp_service.registry import code_labels

# The schema allows ten contacts; the export writes at least three slots, more when a patient has more.
MAX_CONTACTS = 10
EXPORT_MIN_CONTACTS = 3
# kinds whose cells may legitimately start with + or - (phone numbers, negative numbers): parsed
# before the formula check so that only unreadable ones are reported as formulas.
FORMULA_OK_KINDS = {"number", "phone"}


@dataclass(frozen=True)
class Choice:
    labels: dict[str, str]  # stored value -> label written on export
    extra: dict[str, str] = field(default_factory=dict)  # other accepted spellings -> stored value

    def parser(self) -> Callable[[str], str]:
        accepted = {value: value for value in self.labels} | {label: value for value, label in self.labels.items()}
        return values.choice_parser(accepted | self.extra, "/".join(self.labels.values()))


@dataclass(frozen=True)
class Column:
    key: str
    ja: str
    kind: str = "text"  # text | key | bool | number | date | choice | phone | code | ref
    required: bool = False
    choice: Choice | None = None
    target: str | None = None  # the schema field the value feeds, when it is not ``key``
    aliases: tuple[str, ...] = ()
    export_only: bool = False  # written by the export for people to read; ignored on import

    @property
    def field(self) -> str:
        return self.target or self.key

    @property
    def formula_ok(self) -> bool:
        return self.kind in FORMULA_OK_KINDS

    @cached_property
    def parse(self) -> Callable[[str], object]:
        """The parser of this column's cells: takes the stripped text, raises ``ValueError``."""
        if self.choice is not None:
            return self.choice.parser()
        return PARSERS[self.kind]


PARSERS: dict[str, Callable[[str], object]] = {
    "text": values.parse_text,
    "key": values.parse_text,
    "ref": values.parse_text,
    "phone": values.parse_text,  # normalised by the schema's Phone type, so the rule stays in one place
    "bool": values.parse_bool,
    "number": values.parse_float,
    "date": values.parse_date,
    "code": values.parse_municipality_code,
}

SEX = Choice(code_labels.SEX, {"男": "male", "女": "female", "m": "male", "f": "female"})
VENTILATOR_MODE = Choice(
    code_labels.VENTILATOR_MODE,
    {
        "tppv": "invasive",
        "侵襲": "invasive",
        "侵襲的": "invasive",
        "気管切開": "invasive",
        "nppv": "non_invasive",
        "非侵襲": "non_invasive",
        "非侵襲的": "non_invasive",
        "マスク": "non_invasive",
    },
)
OXYGEN_SOURCE = Choice(
    code_labels.OXYGEN_SOURCE,
    {"濃縮装置": "concentrator", "濃縮器": "concentrator", "ボンベ": "cylinders"},
)
STATUS = Choice(code_labels.STATUS, {"有効": "active", "登録中": "active"})
CONTACT_KIND = Choice(code_labels.CONTACT_KIND, {"ヘルパー": "carer", "介護者": "carer"})
CHANNEL = Choice(
    code_labels.CHANNEL, {"ショートメール": "sms", "ショートメッセージ": "sms", "音声": "voice", "通話": "voice"}
)
RISK_TIER = Choice(code_labels.RISK_TIER)
INSTITUTION_KIND = Choice(
    {str(kind): label for kind, label in INSTITUTION_KIND_JA.items()},
    {
        "在支診": "home_care_support_clinic",
        "在支病": "home_care_support_hospital",
        "訪問看護": "visiting_nurse_station",
        "後方支援病院": "backup_hospital",
    },
)


def contact_columns(slot: int) -> list[Column]:
    return [
        Column(f"contact{slot}_phone", f"連絡先{slot}電話", "phone"),
        Column(f"contact{slot}_kind", f"連絡先{slot}種別", "choice", choice=CONTACT_KIND),
        Column(f"contact{slot}_name", f"連絡先{slot}氏名", aliases=(f"連絡先{slot}名前",)),
        Column(f"contact{slot}_relation", f"連絡先{slot}続柄"),
        Column(f"contact{slot}_channel", f"連絡先{slot}連絡方法", "choice", choice=CHANNEL),
        # One column per channel with addresses of its own (e-mail: 連絡先1メールアドレス), from the channels' table.
        *[
            Column(f"contact{slot}_{name}", f"連絡先{slot}{channel.address_label or channel.label}")
            for name, channel in own_address_channels().items()
        ],
    ]


PATIENT_COLUMNS: tuple[Column, ...] = (
    Column("external_id", "外部ID", "key", required=True, aliases=("患者ID",)),
    Column("name", "氏名", required=True),
    Column("name_kana", "氏名カナ", aliases=("フリガナ", "氏名フリガナ")),
    Column("birth_date", "生年月日", "date"),
    Column("sex", "性別", "choice", choice=SEX),
    Column("address", "住所"),
    Column("municipality_code", "市町村コード", "code", required=True, target="municipality_id"),
    Column("latitude", "緯度", "number"),
    Column("longitude", "経度", "number"),
    Column("uses_ventilator", "人工呼吸器", "bool"),
    Column("ventilator_mode", "呼吸器の種類", "choice", choice=VENTILATOR_MODE),
    Column("ventilator_model", "呼吸器の機種"),
    Column("internal_battery_hours", "内部バッテリー時間", "number"),
    Column("external_battery_hours", "外部バッテリー時間", "number"),
    Column("ventilator_hours_per_day", "1日の呼吸器使用時間", "number"),
    Column("uses_oxygen", "在宅酸素", "bool"),
    Column("oxygen_source", "酸素の種類", "choice", choice=OXYGEN_SOURCE),
    Column("oxygen_flow_lpm", "酸素流量", "number", aliases=("酸素流量(L/分)",)),
    Column("cylinder_hours", "ボンベ使用可能時間", "number"),
    Column("uses_suction", "吸引器", "bool"),
    Column("medically_dependent_child", "医療的ケア児", "bool"),
    Column("max_hours_without_device", "機器なしで過ごせる時間", "number"),
    Column("active_institution_external_id", "担当積極的医療機関ID", "ref", target="active_institution_id"),
    Column("visiting_nurse_station_external_id", "訪問看護ステーションID", "ref", target="visiting_nurse_station_id"),
    Column("hub_external_id", "拠点ID", "ref", target="hub_id"),
    Column("backup_hospital_external_id", "後方支援病院ID", "ref", target="backup_hospital_id"),
    Column("backup_hospital_preregistered", "後方支援病院事前登録", "bool"),
    Column("evacuation_destination", "避難先"),
    Column("transport_plan_notes", "搬送計画"),
    Column("equipment_supplier", "機器・酸素事業者"),
    Column("disaster_share_consent_date", "情報共有同意日", "date"),
    Column("status", "状態", "choice", choice=STATUS),
    *[column for slot in range(1, MAX_CONTACTS + 1) for column in contact_columns(slot)],
    Column("risk_tier", "リスク区分", "choice", choice=RISK_TIER, export_only=True),
)

INSTITUTION_COLUMNS: tuple[Column, ...] = (
    Column("external_id", "外部ID", "key", required=True, aliases=("施設ID",)),
    Column("name", "名称", required=True, aliases=("施設名", "機関名")),
    Column("kind", "種別", "choice", required=True, choice=INSTITUTION_KIND),
    Column("enhanced", "機能強化型", "bool"),
    Column("open_24h", "24時間対応", "bool"),
    Column("address", "住所"),
    Column("municipality_code", "市町村コード", "code", required=True, target="municipality_id"),
    Column("phone", "電話番号", "phone"),
)

CONTACT_KEY = re.compile(r"^contact(\d+)_(\w+)$")
# A channel's own address feeds the contact's ``addresses`` (ADDRESS_FIELD + channel name).
ADDRESS_FIELD = "address:"
CONTACT_FIELD = {
    "phone": "phone",
    "kind": "kind",
    "name": "name",
    "relation": "relation",
    "channel": "preferred_channel",
    **{name: f"{ADDRESS_FIELD}{name}" for name in own_address_channels()},
}
CONTACT_KEY_OF_FIELD = {schema_field: key for key, schema_field in CONTACT_FIELD.items()}
# An error in the addresses is shown in the first address column.
CONTACT_KEY_OF_FIELD["addresses"] = next(iter(own_address_channels()), "phone")
