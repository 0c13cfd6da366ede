"""Seeded, fictitious patients with a realistic mix (far more oxygen than ventilator users)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Engine, func, insert, select, text

from bcp_service.models import Designation, HubMunicipality, Institution, Municipality, Patient, PatientContact
from bcp_service.models.base import utcnow
from bcp_service.models.enums import DesignationKind, InstitutionKind
from bcp_service.registry.risk import RiskInputs, derive_risk_tier
from bcp_service.search_text import search_key

FAMILY = [
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("佐々木", "ササキ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("林", "ハヤシ"),
    ("斎藤", "サイトウ"),
    ("清水", "シミズ"),
    ("山崎", "ヤマザキ"),
]
GIVEN_F = [
    ("花子", "ハナコ"),
    ("和子", "カズコ"),
    ("幸子", "サチコ"),
    ("節子", "セツコ"),
    ("陽菜", "ヒナ"),
    ("美咲", "ミサキ"),
    ("恵子", "ケイコ"),
    ("久美子", "クミコ"),
    ("結衣", "ユイ"),
    ("文子", "フミコ"),
]
GIVEN_M = [
    ("太郎", "タロウ"),
    ("一郎", "イチロウ"),
    ("茂", "シゲル"),
    ("勇", "イサム"),
    ("蓮", "レン"),
    ("翔太", "ショウタ"),
    ("正男", "マサオ"),
    ("博", "ヒロシ"),
    ("大輝", "ダイキ"),
    ("清", "キヨシ"),
]
RELATIONS = ["配偶者", "長男", "長女", "次男", "次女", "母", "父", "ヘルパー"]
VENTILATOR_MODELS = ["デモ呼吸器 A-100", "デモ呼吸器 B-200", "デモ呼吸器 C-300"]
BIG_CITIES = {
    "121002": 12,
    "122041": 6,
    "122076": 5,
    "122033": 5,
    "122173": 4,
    "122190": 3,
    "122211": 2,
    "122165": 2,
    "122271": 2,
    "122203": 2,
    "122122": 2,
}


@dataclass
class Pools:
    municipalities: list[tuple[int, str]]  # (id, name)
    weights: list[int]
    active_by_region: dict[int, list[int]]
    stations_by_region: dict[int, list[int]]
    hub_by_municipality: dict[int, int]
    backup_by_area: dict[int, list[int]]
    region_of: dict[int, int]
    area_of: dict[int, int]


def load_pools(engine: Engine, prefecture_id: int | None = None) -> Pools:
    with engine.connect() as conn:
        query = select(Municipality.id, Municipality.code, Municipality.secondary_medical_area_id, Municipality.name)
        if prefecture_id is not None:
            query = query.where(Municipality.prefecture_id == prefecture_id)
        rows = conn.execute(query.order_by(Municipality.code)).all()
        if not rows:
            raise RuntimeError("no municipalities: load the Chiba structure first (bcp-service demo or seed)")
        region_of = dict(
            conn.execute(text("SELECT municipality_id, region_id FROM home_care_region_municipality")).all()
        )
        active: dict[int, list[int]] = defaultdict(list)
        for institution_id, region_id in conn.execute(
            select(Designation.institution_id, Designation.region_id).where(
                Designation.kind == DesignationKind.active_institution
            )
        ):
            active[region_id].append(institution_id)
        stations: dict[int, list[int]] = defaultdict(list)
        backups: dict[int, list[int]] = defaultdict(list)
        area_of = {m_id: area for m_id, _code, area, _name in rows}
        for institution_id, kind, municipality_id in conn.execute(
            select(Institution.id, Institution.kind, Institution.municipality_id)
        ):
            if kind == InstitutionKind.visiting_nurse_station and municipality_id in region_of:
                stations[region_of[municipality_id]].append(institution_id)
            elif kind == InstitutionKind.backup_hospital and municipality_id in area_of:
                backups[area_of[municipality_id]].append(institution_id)
        hubs = {m: i for i, m in conn.execute(select(HubMunicipality.institution_id, HubMunicipality.municipality_id))}
    weights = [BIG_CITIES.get(code, 2 if code[2] == "2" else 1) for _id, code, _area, _name in rows]
    return Pools([(r[0], r[3]) for r in rows], weights, active, stations, hubs, backups, region_of, area_of)


def synthetic_patient(rng: random.Random, pools: Pools, patient_id: int) -> tuple[dict, list[dict]]:
    municipality_id, municipality_name = rng.choices(pools.municipalities, weights=pools.weights)[0]
    region_id = pools.region_of.get(municipality_id)
    area_id = pools.area_of.get(municipality_id)
    family, family_kana = rng.choice(FAMILY)
    female = rng.random() < 0.5
    given, given_kana = rng.choice(GIVEN_F if female else GIVEN_M)
    roll = rng.random()
    child = roll < 0.03
    ventilator = child or roll < 0.13
    oxygen = not ventilator or rng.random() < 0.15
    age = rng.randint(1, 17) if child else min(100, max(20, int(rng.gauss(76, 10))))
    record = {
        "id": patient_id,
        "external_id": f"DEMO-{patient_id:07d}",
        "name": f"{family} {given}",
        "name_kana": f"{family_kana} {given_kana}",
        "name_search": search_key(f"{family} {given}", f"{family_kana} {given_kana}"),
        "birth_date": date(2026, 1, 1) - timedelta(days=age * 365 + rng.randint(0, 364)),
        "sex": "female" if female else "male",
        "address": f"千葉県{municipality_name}（架空の住所） {rng.randint(1, 30)}-{rng.randint(1, 20)}",
        "municipality_id": municipality_id,
        "latitude": None,
        "longitude": None,
        "uses_ventilator": ventilator,
        "ventilator_mode": (("invasive" if rng.random() < 0.4 else "non_invasive") if ventilator else None),
        "ventilator_model": rng.choice(VENTILATOR_MODELS) if ventilator else None,
        "internal_battery_hours": rng.choice([1.0, 2.0, 3.0, 4.0]) if ventilator else None,
        "external_battery_hours": rng.choice([None, 4.0, 6.0, 8.0]) if ventilator else None,
        "ventilator_hours_per_day": rng.choice([8.0, 12.0, 24.0]) if ventilator else None,
        "uses_oxygen": oxygen,
        "oxygen_source": rng.choices(["concentrator", "liquid", "cylinders"], [80, 12, 8])[0] if oxygen else None,
        "oxygen_flow_lpm": rng.choice([0.5, 1.0, 1.5, 2.0, 3.0, 4.0]) if oxygen else None,
        "cylinder_hours": rng.choice([None, 2.0, 4.0, 6.0, 10.0]) if oxygen else None,
        "uses_suction": ventilator and rng.random() < 0.6,
        "medically_dependent_child": child,
        "max_hours_without_device": rng.choice([None, 0.0, 0.5, 1.0, 2.0, 4.0, 8.0]),
        "active_institution_id": _pick(rng, pools.active_by_region.get(region_id), 0.9),
        "visiting_nurse_station_id": _pick(rng, pools.stations_by_region.get(region_id), 0.85),
        "hub_id": pools.hub_by_municipality.get(municipality_id),
        "backup_hospital_id": _pick(rng, pools.backup_by_area.get(area_id), 0.6 if ventilator else 0.2),
        "backup_hospital_preregistered": False,
        "evacuation_destination": rng.choice([None, "最寄りの福祉避難所", "後方支援病院へ入院", "親族宅"]),
        "transport_plan_notes": (
            "家族の車で搬送。人工呼吸器と外部バッテリーを同行。" if ventilator and rng.random() < 0.5 else None
        ),
        "equipment_supplier": "【デモ】ちば在宅酸素サービス",
        "disaster_share_consent_date": date(2025, rng.randint(1, 12), rng.randint(1, 28))
        if rng.random() < 0.8
        else None,
        "status": "active" if rng.random() < 0.97 else rng.choice(["moved", "admitted", "deceased"]),
        "created_at": utcnow(),
        "updated_at": None,
    }
    record["backup_hospital_preregistered"] = record["backup_hospital_id"] is not None and rng.random() < 0.7
    record["risk_tier"] = derive_risk_tier(RiskInputs(**{k: record[k] for k in RiskInputs.__dataclass_fields__})).value
    contacts = []
    if rng.random() < 0.7:
        contacts.append(_contact(rng, patient_id, "self", None, None))
    for _ in range(rng.choice([1, 1, 2])):
        contacts.append(
            _contact(
                rng, patient_id, rng.choice(["family", "family", "carer"]), f"{family} 家族", rng.choice(RELATIONS)
            )
        )
    for position, contact in enumerate(contacts, start=1):
        contact["position"] = position
    return record, contacts


def _pick(rng: random.Random, choices: list[int] | None, probability: float) -> int | None:
    if not choices or rng.random() > probability:
        return None
    return rng.choice(choices)


def _contact(rng: random.Random, patient_id: int, kind: str, name: str | None, relation: str | None) -> dict:
    return {
        "patient_id": patient_id,
        "kind": kind,
        "name": name,
        "relation": relation,
        "phone": f"+8190{rng.randint(10000000, 99999999)}",
        "preferred_channel": "sms",
        "bad_since": None,
        "bad_reason": None,
    }


def generate(rng: random.Random, pools: Pools, first_id: int, count: int) -> Iterator[tuple[dict, list[dict]]]:
    for offset in range(count):
        yield synthetic_patient(rng, pools, first_id + offset)


def seed_patients(
    engine: Engine,
    count: int,
    *,
    seed: int = 42,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
    prefecture_id: int | None = None,
) -> int:
    """Insert ``count`` synthetic patients in batches; returns the number inserted."""
    pools = load_pools(engine, prefecture_id)
    rng = random.Random(seed)
    with engine.begin() as conn:
        first_id = (conn.execute(select(func.max(Patient.id))).scalar() or 0) + 1
    done = 0
    batch_patients: list[dict] = []
    batch_contacts: list[dict] = []
    for record, contacts in generate(rng, pools, first_id, count):
        batch_patients.append(record)
        batch_contacts.extend(contacts)
        if len(batch_patients) >= batch_size:
            _flush(engine, batch_patients, batch_contacts)
            done += len(batch_patients)
            if progress:
                progress(len(batch_patients))
            batch_patients, batch_contacts = [], []
    if batch_patients:
        _flush(engine, batch_patients, batch_contacts)
        done += len(batch_patients)
        if progress:
            progress(len(batch_patients))
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('patient', 'id'), (SELECT MAX(id) FROM patient))"))
    return done


def _flush(engine: Engine, patients: list[dict], contacts: list[dict]) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # COPY is several times faster than multi-row INSERT for bulk loads.
            raw = conn.connection.driver_connection
            _copy(raw, "patient", patients)
            _copy(raw, "patient_contact", contacts)
            return
        conn.execute(insert(Patient.__table__), patients)
        conn.execute(insert(PatientContact.__table__), contacts)


def _copy(raw_connection, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    with raw_connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])
