"""The patient form of the registry pages: its fields, the choices they offer, and reading a posted form.

The schemas (``PatientCreate`` / ``PatientUpdate``) stay the one place for the rules; this turns
form text into their input and their errors into Japanese messages keyed by field, so each
message is shown next to its field and every value typed is shown again after a failed save.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ValidationError
from sqlmodel import Session, select

from bcp_service.auth import wall
from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.channels import own_address_channels
from bcp_service.models import Designation, HomeCareRegion, Institution, Municipality, Patient
from bcp_service.models.enums import DesignationKind, InstitutionKind
from bcp_service.registry import code_labels
from bcp_service.registry.designation_rules import MEDICAL
from bcp_service.registry.references import HOSPITAL_KINDS, NURSE_STATION_KINDS
from bcp_service.registry.validation import field_errors
from bcp_service.typed_input import date_text, number_text

SEX_LABELS, VENTILATOR_LABELS, OXYGEN_LABELS = code_labels.SEX, code_labels.VENTILATOR_MODE, code_labels.OXYGEN_SOURCE
STATUS_LABELS, TIER_LABELS = code_labels.STATUS, code_labels.RISK_TIER
CONTACT_KIND_LABELS, CHANNEL_LABELS = code_labels.CONTACT_KIND, code_labels.CHANNEL


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: str = "text"  # text | textarea | number | date | bool | select
    choices: str | None = None  # key of the options dict for selects
    hint: str = ""
    required: bool = False


SECTIONS: tuple[tuple[str, tuple[FormField, ...]], ...] = (
    (
        "基本情報",
        (
            FormField("name", "氏名", required=True, hint="例: 千葉 花子"),
            FormField("name_kana", "氏名カナ", hint="例: チバ ハナコ"),
            FormField("birth_date", "生年月日", "date"),
            FormField("sex", "性別", "select", "sex"),
            FormField("external_id", "外部ID", hint="取り込みCSVで使うID（任意）"),
            FormField("municipality_id", "市町村", "select", "municipalities", required=True),
            FormField("address", "住所"),
            FormField("latitude", "緯度", "number"),
            FormField("longitude", "経度", "number"),
        ),
    ),
    (
        "人工呼吸器",
        (
            FormField("uses_ventilator", "人工呼吸器を使っている", "bool"),
            FormField("ventilator_mode", "呼吸器の種類", "select", "ventilator_mode"),
            FormField("ventilator_model", "呼吸器の機種"),
            FormField("internal_battery_hours", "内部バッテリー（時間）", "number"),
            FormField("external_battery_hours", "外部バッテリー（時間）", "number"),
            FormField("ventilator_hours_per_day", "1日の使用時間", "number"),
        ),
    ),
    (
        "在宅酸素・その他の機器",
        (
            FormField("uses_oxygen", "在宅酸素を使っている", "bool"),
            FormField("oxygen_source", "酸素の種類", "select", "oxygen_source"),
            FormField("oxygen_flow_lpm", "酸素流量（L/分）", "number"),
            FormField("cylinder_hours", "ボンベで過ごせる時間", "number"),
            FormField("uses_suction", "吸引器を使っている", "bool"),
            FormField("medically_dependent_child", "医療的ケア児", "bool"),
            FormField(
                "max_hours_without_device",
                "機器なしで過ごせる時間",
                "number",
                hint="分からなければ空欄（0時間として扱います）",
            ),
        ),
    ),
    (
        "担当と災害時の備え",
        (
            FormField("active_institution_id", "担当医療機関", "select", "active_institutions"),
            FormField("visiting_nurse_station_id", "訪問看護ステーション", "select", "stations"),
            FormField(
                "hub_id",
                "連携拠点",
                "select",
                "hubs",
                hint="「自動」は市町村を担当する拠点（線引きが変わると従います）。拠点を選ぶと手動で固定します",
            ),
            FormField("backup_hospital_id", "後方支援病院", "select", "hospitals"),
            FormField("backup_hospital_preregistered", "後方支援病院に事前登録済み", "bool"),
            FormField("evacuation_destination", "避難先"),
            FormField("transport_plan_notes", "搬送計画", "textarea"),
            FormField("equipment_supplier", "機器・酸素事業者"),
            FormField("disaster_share_consent_date", "災害時の情報共有に同意した日", "date"),
        ),
    ),
)
FIELDS = {f.name: f for _title, fields in SECTIONS for f in fields}
OWN_INSTITUTION_ROLES = (Role.institution, Role.nurse, Role.hub)
# One field per channel with addresses of its own (e-mail: ``address_email``), from the channels' table.
ADDRESS_FIELDS = {
    f"address_{name}": channel.address_label or channel.label for name, channel in own_address_channels().items()
}
CONTACT_FIELDS = ("phone", "kind", "name", "relation", "preferred_channel", *ADDRESS_FIELDS)


def patient_values(patient: Patient) -> dict[str, str]:
    """The stored record as the text its form shows."""
    values = {}
    for name, spec in FIELDS.items():
        value = getattr(patient, name)
        if spec.kind == "bool":
            values[name] = "on" if value else ""
        elif value is None or (name == "hub_id" and not patient.hub_pinned):
            values[name] = ""  # a hub that follows the map shows as 「自動」
        elif isinstance(value, float):
            values[name] = f"{value:g}"
        else:
            values[name] = str(value)
    return values


def posted_values(form) -> dict[str, str]:
    return {name: str(form.get(name, "")).strip() for name in FIELDS} | {
        f"contact_{key}": str(form.get(f"contact_{key}", "")).strip() for key in CONTACT_FIELDS
    }


def payload(values: dict[str, str], *, with_contact: bool) -> dict:
    """Form text to schema input: empty means "not known", an unticked box means no."""
    data: dict = {}
    for name, spec in FIELDS.items():
        text = as_typed(spec.kind, values.get(name, ""))
        data[name] = bool(text) if spec.kind == "bool" else (text or None)
    if not data["sex"]:
        data["sex"] = "unknown"
    data["hub_pinned"] = data["hub_id"] is not None  # a hub chosen by hand is pinned; 「自動」 follows the map
    if with_contact and values.get("contact_phone"):
        data["contacts"] = [contact_payload({key: values.get(f"contact_{key}", "") for key in CONTACT_FIELDS})]
    return data


def as_typed(kind: str, text: str) -> str:
    """A number or date field as people type it (「３」, 「1,200」, 昭和45年3月2日, R6/1/5) in the form the schema
    reads; text that is neither stays as typed, so the schema's own message names the field."""
    reader = {"number": number_text, "date": date_text}.get(kind)
    if reader is None or not text:
        return text
    try:
        return reader(text)
    except ValueError:
        return text


def contact_payload(values: dict[str, str]) -> dict:
    addresses = {field.removeprefix("address_"): values[field] for field in ADDRESS_FIELDS if values.get(field)}
    return {
        "phone": values.get("phone") or (None if addresses else ""),
        "kind": values.get("kind") or "self",
        "name": values.get("name") or None,
        "relation": values.get("relation") or None,
        "preferred_channel": values.get("preferred_channel") or "sms",
        "addresses": addresses,
    }


def contact_values(contact, addresses: dict[str, str]) -> dict[str, str | None]:
    """A stored contact as its form shows it."""
    return {
        "phone": contact.phone,
        "kind": contact.kind,
        "name": contact.name,
        "relation": contact.relation,
        "preferred_channel": contact.preferred_channel,
    } | {field: addresses.get(field.removeprefix("address_"), "") for field in ADDRESS_FIELDS}


def validate(schema: type[BaseModel], data: dict, prefix: str = "") -> tuple[BaseModel | None, dict[str, str]]:
    """The schema's model, or the Japanese message of each bad field (contact fields as ``contact_<name>``)."""
    try:
        return schema.model_validate(data), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for loc, reason, _model_rule in field_errors(exc):
            if loc and loc[0] == "contacts":
                key = f"contact_{loc[-1]}" if len(loc) > 2 else "contact_phone"
            else:
                key = f"{prefix}{loc[0]}" if loc else "_form"
            errors.setdefault(key, reason)
        return None, errors


def form_options(
    session: Session, principal: Principal, current: dict[str, str] | None = None
) -> dict[str, list[tuple[str, str]]]:
    """Choices for the selects: the caller's prefecture (all for admin), plus whatever the record holds now."""
    prefecture_id = caller_prefecture(session, principal)
    municipalities = select(Municipality.id, Municipality.name).order_by(Municipality.code)
    institutions = (
        select(Institution.id, Institution.name, Institution.kind)
        .join(Municipality, Municipality.id == Institution.municipality_id)
        .order_by(Institution.name)
    )
    if prefecture_id is not None:
        municipalities = municipalities.where(Municipality.prefecture_id == prefecture_id)
        institutions = institutions.where(Municipality.prefecture_id == prefecture_id)
    rows = session.exec(institutions).all()
    hubs = set(session.exec(select(Designation.institution_id).where(Designation.kind == DesignationKind.hub)).all())
    hub_kinds = {
        InstitutionKind.medical_association,
        InstitutionKind.public_health_center,
        InstitutionKind.municipal_office,
    }
    blank = [("", "（未設定）")]
    options = {
        "sex": list(SEX_LABELS.items()),
        "ventilator_mode": blank + list(VENTILATOR_LABELS.items()),
        "oxygen_source": blank + list(OXYGEN_LABELS.items()),
        "municipalities": [("", "選んでください")] + [(str(i), n) for i, n in session.exec(municipalities).all()],
        # Only medical institutions that may care at home: never a fire agency, an oxygen supplier or a pharmacy.
        "active_institutions": blank + [(str(i), n) for i, n, k in rows if k in MEDICAL],
        "stations": blank + [(str(i), n) for i, n, k in rows if k in NURSE_STATION_KINDS],
        "hubs": [("", "自動（市町村を担当する拠点）")]
        + [(str(i), n) for i, n, k in rows if i in hubs or k in hub_kinds],
        "hospitals": blank + [(str(i), n) for i, n, k in rows if k in HOSPITAL_KINDS],
    }
    for name, spec in FIELDS.items():
        value = (current or {}).get(name)
        if spec.choices and value and all(v != value for v, _ in options[spec.choices]) and value.isdigit():
            model = Municipality if name == "municipality_id" else Institution
            row = session.get(model, int(value))
            options[spec.choices].append((value, row.name if row else f"id {value}"))
    return options


def own_institution(session: Session, principal: Principal) -> dict[str, str]:
    """The caller's own institution in the picker it belongs to, preselected on a new patient (issue 27.5)."""
    row = (
        session.get(Institution, principal.scope_id)
        if principal.role in OWN_INSTITUTION_ROLES and principal.scope_id
        else None
    )
    if row is None:
        return {}
    if principal.role == Role.hub:
        return {"hub_id": str(row.id)}
    if row.kind in NURSE_STATION_KINDS:
        return {"visiting_nurse_station_id": str(row.id)}
    return {"active_institution_id": str(row.id)} if row.kind in MEDICAL else {}


def caller_prefecture(session: Session, principal: Principal) -> int | None:
    """The caller's prefecture (None: admin), the same wall as every write (``auth.wall``)."""
    return wall.home_prefecture(session, principal)


def filter_options(session: Session, principal: Principal) -> dict[str, list[tuple[str, str]]]:
    """Regions, municipalities and institutions offered by the list's filters."""
    prefecture_id = caller_prefecture(session, principal)
    regions = select(HomeCareRegion.id, HomeCareRegion.name).order_by(HomeCareRegion.name)
    if prefecture_id is not None:
        regions = regions.where(HomeCareRegion.prefecture_id == prefecture_id)
    base = form_options(session, principal)
    institutions = sorted(
        {*base["active_institutions"][1:], *base["stations"][1:], *base["hubs"][1:], *base["hospitals"][1:]},
        key=lambda pair: pair[1],
    )
    return {
        "regions": [(str(i), n) for i, n in session.exec(regions).all()],
        "municipalities": base["municipalities"][1:],
        "institutions": institutions,
    }
