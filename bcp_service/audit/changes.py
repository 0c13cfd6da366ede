"""What an update changed, for the audit log: field names, old and new values, and no personal data.

``diff(kind, before, after)`` compares two snapshots (``snapshot(row)`` before the change and after
it) and lists the fields that differ. A personal field (``PERSONAL``: names, birth date, address,
coordinates, contacts, free text that may name people, passwords) is written as
``{"field": f, "personal": true}``, shown 「変更あり」 without any value; every other field carries
``old`` and ``new`` as JSON values (dates as ISO text). Labels for the page: ``LABELS``.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any

from bcp_service.models.enums import INSTITUTION_KIND_JA

PERSONAL: dict[str, frozenset[str]] = {
    "patient": frozenset(
        {
            "name",
            "name_kana",
            "birth_date",
            "address",
            "latitude",
            "longitude",
            "external_id",
            "contacts",
            "evacuation_destination",
            "transport_plan_notes",
            "planned_stay_place",
            "status_reason",
        }
    ),
    "institution": frozenset({"staff_contacts"}),  # staff names, phones and e-mail addresses
    "user": frozenset({"display_name", "password"}),
    "region": frozenset(),
    "municipality": frozenset(),
}
# Derived or bookkeeping columns: never an audit line of their own.
IGNORED = frozenset({"id", "created_at", "updated_at", "name_search", "status_changed_at", "external_id_owner"})

LABELS: dict[str, dict[str, str]] = {
    "patient": {
        "name": "氏名",
        "name_kana": "氏名カナ",
        "birth_date": "生年月日",
        "sex": "性別",
        "external_id": "外部ID",
        "municipality_id": "市町村",
        "address": "住所",
        "latitude": "緯度",
        "longitude": "経度",
        "uses_ventilator": "人工呼吸器",
        "ventilator_mode": "呼吸器の種類",
        "ventilator_model": "呼吸器の機種",
        "internal_battery_hours": "内部バッテリー（時間）",
        "external_battery_hours": "外部バッテリー（時間）",
        "ventilator_hours_per_day": "1日の使用時間",
        "uses_oxygen": "在宅酸素",
        "oxygen_source": "酸素の種類",
        "oxygen_flow_lpm": "酸素流量（L/分）",
        "cylinder_hours": "ボンベで過ごせる時間",
        "uses_suction": "吸引器",
        "medically_dependent_child": "医療的ケア児",
        "max_hours_without_device": "機器なしで過ごせる時間",
        "active_institution_id": "担当医療機関",
        "visiting_nurse_station_id": "訪問看護ステーション",
        "hub_id": "連携拠点",
        "hub_pinned": "連携拠点を手動で固定",
        "backup_hospital_id": "後方支援病院",
        "backup_hospital_preregistered": "後方支援病院に事前登録",
        "evacuation_destination": "避難先",
        "transport_plan_notes": "搬送計画",
        "equipment_supplier": "機器・酸素事業者",
        "device_watts": "機器の消費電力（W）",
        "generator_access": "発電機",
        "car_power_access": "車からの給電",
        "planned_stay": "災害時の滞在先",
        "planned_stay_place": "滞在先の場所",
        "planned_stay_at": "滞在先の登録日時",
        "disaster_share_consent_date": "情報共有に同意した日",
        "status": "状態",
        "status_reason": "状態の理由",
        "risk_tier": "優先度",
        "contacts": "連絡先",
    },
    "institution": {
        "external_id": "外部ID",
        "name": "名称",
        "kind": "種別",
        "enhanced": "機能強化型",
        "open_24h": "24時間対応",
        "address": "所在地",
        "municipality_id": "市町村",
        "phone": "電話番号",
        "staff_contacts": "担当者",
        "designations": "指定",
        "hub_municipality_ids": "連携拠点の担当市町村",
    },
    "user": {
        "username": "ユーザー名",
        "display_name": "表示名",
        "password": "パスワード",
        "role": "役割",
        "scope_id": "担当範囲",
        "active": "有効",
    },
    "region": {"name": "名称", "notes": "備考", "municipality_ids": "構成市町村", "prefecture_id": "都道府県"},
    "municipality": {
        "name": "名称",
        "code": "市町村コード",
        "secondary_medical_area_id": "二次医療圏",
        "public_health_center_district_id": "保健所管内",
        "local_medical_association_id": "郡市区医師会",
        "membership_source": "所属の出典",
        "prefecture_id": "都道府県",
    },
}

INSTITUTION_CODES = {"kind": INSTITUTION_KIND_JA}
# Lists saved whole, personal in every item: one line saying they changed.
CONTACTS_CHANGED: dict[str, Any] = {"field": "contacts", "personal": True}
STAFF_CHANGED: dict[str, Any] = {"field": "staff_contacts", "personal": True}


def _plain(value: Any) -> Any:
    """A JSON value that reads back equal (the chain hashes it): dates as ISO text, enums as their value."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def snapshot(row: Any, **extra: Any) -> dict[str, Any]:
    """A row's columns (a SQLModel instance or a dict) as plain values, with ``extra`` fields added."""
    values = row.model_dump() if hasattr(row, "model_dump") else dict(row)
    return {k: _plain(v) for k, v in (values | extra).items() if k not in IGNORED}


def diff(
    kind: str, before: dict[str, Any], after: dict[str, Any], codes: dict[str, dict[str, str]] | None = None
) -> list[dict[str, Any]]:
    """The changed fields; ``codes`` turns stored codes into their Japanese labels (``{"sex": {"male": "男性"}}``)."""
    personal, codes = PERSONAL[kind], codes or {}
    changes: list[dict[str, Any]] = []
    for field in sorted(set(before) | set(after)):
        old, new = before.get(field), after.get(field)
        if field in IGNORED or old == new:
            continue
        if field in personal:
            changes.append({"field": field, "personal": True})
            continue
        if field in codes:
            old, new = (codes[field].get(v, v) if isinstance(v, str) else v for v in (old, new))
        changes.append({"field": field, "old": old, "new": new})
    return changes


def describe(kind: str | None, change: dict[str, Any]) -> str:
    """One change in Japanese: 「住所: 変更あり」, 「酸素流量（L/分）: 2 → 3」."""
    label = LABELS.get(kind or "", {}).get(change.get("field", ""), "その他の項目")
    if change.get("personal"):
        return f"{label}: 変更あり"
    return f"{label}: {_shown(change.get('old'))} → {_shown(change.get('new'))}"


def _shown(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "（なし）"
    if value is True:
        return "はい"
    if value is False:
        return "いいえ"
    if isinstance(value, list):
        return "、".join(_shown(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
