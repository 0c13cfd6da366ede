"""A fictitious, filled-in BCP context, and the script that renders docs/examples from it.

Every name, address and number is invented (「架空」) and the phone numbers use the unassigned
000 prefix. A few items are left out on purpose, so the example shows what blanks look like.

Regenerate with ``python -m bcp_service.bcp.example [OUTPUT_DIR]``.
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

from bcp_service.bcp.context import (
    AreaVentilatorPatient,
    BackedUpClinic,
    BackupHospital,
    BcpContext,
    Contact,
    Drill,
    Facility,
    Institution,
    Organisation,
    Patient,
    PhoneLine,
    PlanKind,
    StaffContact,
    Supplier,
    Therapy,
)
from bcp_service.bcp.docx_writer import html_to_docx
from bcp_service.bcp.render import render_draft
from bcp_service.timeutil import display_zone

# name, 種別, phone, designations, and the staff role at the top of the call-out tree
_PROFILES: dict[str, tuple[str, str, str, list[str], tuple[str, str]]] = {
    "single_doctor_clinic": (
        "架空みなみクリニック",
        "診療所（医師1名）",
        "000-0000-6001",
        ["在宅時医学総合管理料の届出"],
        ("架空 一郎", "院長（医師）"),
    ),
    "home_care_support": (
        "架空きた在宅クリニック",
        "在宅療養支援診療所（機能強化型・連携型）",
        "000-0000-7001",
        ["在宅療養支援診療所（機能強化型・連携型）"],
        ("架空 一郎", "院長（医師）"),
    ),
    "visiting_nurse_station": (
        "架空みなみ訪問看護ステーション",
        "訪問看護ステーション（機能強化型）",
        "000-0000-8001",
        ["機能強化型訪問看護管理療養費1", "24時間対応体制加算"],
        ("架空 一郎", "管理者（看護師）"),
    ),
    "active_institution": (
        "架空在宅ケア病院",
        "在宅療養支援病院（機能強化型）",
        "000-0000-0100",
        ["在宅療養支援病院（機能強化型）", "在宅医療において積極的役割を担う医療機関"],
        ("架空 一郎", "院長（医師）"),
    ),
}

LOCAL_FACTS = {
    "BCP推進責任者（氏名・職名）": "架空 一郎（様式1の順位1）",
    "責任者不在時の代行者": "架空 花子（看護師長）",
    "定期見直しの時期（月）": "6月",
    "想定される最大震度": "震度6強（市の被害想定による）",
    "土砂災害警戒区域への該当": "該当なし",
    "建物の耐震性（建築年・耐震診断の結果）": "2005年建築（新耐震基準）",
    "非常用電源（自家発電機・蓄電池の有無と稼働可能時間）": "自家発電機あり（重油・約48時間）",
    "停電時に患者の機器を充電できる場所": ("当院1階 外来待合（発電機回路のコンセント6口）、架空市福祉センター"),
    "訪問用車両の台数と燃料の確保方法": ("4台（うち2台は外部給電機能付き）。架空石油と優先給油の協定あり"),
    "飲料水・生活用水の備蓄量": "飲料水 職員20名×3日分、生活用水 受水槽",
    "停電・輻輳時に使える通信手段（衛星電話等）": "衛星携帯電話1台、MCA無線1台",
    "紙の患者一覧の保管場所と持ち出し責任者": "地域連携室の耐火金庫、持ち出しは当番看護師",
    "備蓄品の数量と保管場所（様式6）": "様式6のとおり（2階倉庫）",
    "緊急時の役割分担（担当者の氏名）": "様式1の順位1〜4の職員",
    "夜間・休日の連絡先電話番号": "000-0000-0199（当番携帯）",
    "近隣機関との相互支援の取り決め（相手先・締結日）": ("架空北クリニック・架空訪問看護ステーション（2024年4月締結）"),
    "都道府県の災害時連絡先": "000-0000-0300（架空県 保健医療福祉調整本部）",
    "医薬品卸が被災したときの代替の調達先": "架空薬品 南営業所",
}


def _patients() -> list[Patient]:
    return [
        Patient(
            label="架空患者A（仮名）",
            age=67,
            reference="K-0001",
            phones=[
                PhoneLine(who="本人", phone="090-0000-0001", kind="携帯"),
                PhoneLine(who="家族（妻）", phone="090-0000-0002", kind="携帯"),
            ],
            therapy=Therapy.TPPV,
            device_model="架空ベント V60",
            internal_battery_hours=3,
            external_battery_hours=8,
            suction_device="電動（内蔵バッテリー）＋足踏み式",
            max_hours_without_device=0,
            risk_tier="最優先",
            backup_hospital="架空中央病院",
            backup_preregistered=True,
            evacuation_destination="架空中央病院（入院）",
            transport_plan="119で救急搬送。判断は主治医、蘇生バッグ・外部バッテリー持参",
            supplier="架空メディカル",
            device_watts=150,
            generator_access=False,
            car_power_access=True,
            planned_stay="入院・入所（架空中央病院）",
        ),
        Patient(
            label="架空患者B（仮名）",
            age=74,
            reference="K-0002",
            phones=[
                PhoneLine(who="本人", phone="0000-00-0003", kind="固定電話"),
                PhoneLine(who="家族（長女）", phone="080-0000-0004", kind="携帯"),
            ],
            therapy=Therapy.NPPV,
            device_model="架空エア S10",
            internal_battery_hours=4,
            external_battery_hours=None,
            max_hours_without_device=6,
            risk_tier="高",
            backup_hospital="架空中央病院",
            backup_preregistered=False,
            evacuation_destination="架空市福祉センター（電源あり）",
            transport_plan="家族の車。判断は主治医",
            supplier="架空メディカル",
            device_watts=60,
            generator_access=True,
            car_power_access=True,
            planned_stay="自宅",
        ),
        Patient(
            label="架空患者C（仮名）",
            age=81,
            reference="K-0003",
            phones=[PhoneLine(who="本人", phone="0000-00-0005", kind="固定電話")],
            therapy=Therapy.HOME_OXYGEN,
            oxygen_source="酸素濃縮器＋ボンベ4本",
            oxygen_flow_l_min=2.0,
            cylinder_hours=10,
            max_hours_without_device=12,
            risk_tier="中",
            backup_hospital="架空東病院",
            backup_preregistered=True,
            evacuation_destination="自宅待機（ボンベ配送）",
            transport_plan="福祉タクシー。判断は主治医",
            supplier="架空酸素",
            device_watts=300,
            generator_access=False,
            car_power_access=False,
            planned_stay="自宅",
        ),
        Patient(
            label="架空患者D（仮名）",
            age=6,
            reference="K-0004",
            phones=[
                PhoneLine(who="家族（母）", phone="070-0000-0006", kind="携帯"),
                PhoneLine(who="家族（父）", phone="070-0000-0007", kind="携帯"),
            ],
            therapy=Therapy.TPPV,
            device_model="架空ベント V60",
            internal_battery_hours=3,
            external_battery_hours=3,
            suction_device="電動（内蔵バッテリー）",
            medically_dependent_child=True,
            max_hours_without_device=0,
            risk_tier="最優先",
            backup_hospital="架空こども病院",
            backup_preregistered=True,
            evacuation_destination="架空こども病院（入院）",
            transport_plan="119で救急搬送。保護者同乗、判断は主治医",
            supplier="架空メディカル",
            device_watts=180,
            generator_access=False,
            car_power_access=True,
            planned_stay="入院・入所（架空こども病院）",
        ),
    ]


def example_context(plan_kind: PlanKind = "active_institution") -> BcpContext:
    active = plan_kind == "active_institution"
    name, kind_label, phone, designations, (lead_name, lead_role) = _PROFILES[plan_kind]
    return BcpContext(
        plan_kind=plan_kind,
        generated_at=datetime(2025, 4, 1, 9, 0, tzinfo=display_zone()),
        facility=Facility(
            name=name,
            kind_label=kind_label,
            address="架空県架空市本町1-2-3",
            phone=phone,
            municipality="架空市",
            prefecture="架空県",
            home_care_region="架空北部在宅医療圏",
            enhanced=plan_kind != "single_doctor_clinic",
            twenty_four_hour=True,
            designations=designations,
        ),
        active_institution=None if active else Organisation(name="架空在宅ケア病院", phone="000-0000-0100"),
        hub=Organisation(name="架空市医師会 在宅医療連携センター", phone="000-0000-0200"),
        staff_contacts=[
            StaffContact(name=lead_name, role=lead_role, phone="000-0000-1001", order=1),
            StaffContact(name="架空 花子", role="看護師長", phone="000-0000-1002", order=2),
            StaffContact(name="架空 次郎", role="看護師", phone="000-0000-1003", order=3),
            StaffContact(name="架空 三子", role="事務長", phone="000-0000-1004", order=4),
            StaffContact(name="架空 四郎", role="事務職員", phone=None, order=5),
        ],
        patients=_patients(),
        backup_hospitals=[
            BackupHospital(name="架空中央病院", phone="000-0000-2001", address="架空市中央2-1"),
            BackupHospital(name="架空こども病院", phone="000-0000-2002", address="架空市緑町5-5"),
            BackupHospital(name="架空東病院", kind="有床診療所", phone="000-0000-2003"),
        ],
        suppliers=[
            Supplier(
                name="架空メディカル",
                kind="人工呼吸器",
                phone="000-0000-3001",
                supplies="人工呼吸器・外部バッテリーの貸出、災害時は利用者宅を巡回",
            ),
            Supplier(
                name="架空酸素",
                kind="在宅酸素",
                phone="000-0000-3002",
                supplies="酸素濃縮器・ボンベ、災害時はボンベを優先配送",
            ),
            Supplier(
                name="架空薬品",
                kind="医薬品・衛生材料",
                phone="000-0000-3003",
                supplies="医薬品、衛生材料、個人防護具",
            ),
        ],
        nearby_institutions=[
            Institution(name="架空北クリニック", kind="在宅療養支援診療所", phone="000-0000-4001"),
            Institution(name="架空訪問看護ステーション", kind="訪問看護ステーション", phone="000-0000-4002"),
            Institution(name="架空さくら薬局", kind="薬局（在宅対応）", phone="000-0000-4003"),
            Institution(name="架空ケアプランセンター", kind="居宅介護支援事業所", phone=None),
        ],
        municipality_office=Contact(name="架空市役所", department="高齢者支援課", phone="000-0000-5001"),
        public_health_center=Contact(name="架空保健所", department="地域保健課", phone="000-0000-5002"),
        fire_ems=Contact(name="架空市消防本部", department="警防課", phone="000-0000-5003"),
        last_drill=Drill(
            held_on=date(2025, 1, 17),
            round_name="令和6年度 架空市合同安否確認訓練",
            target_count=42,
            answered_count=35,
            median_minutes_to_answer=4.0,
        ),
        backed_up_clinics=[
            BackedUpClinic(
                name="架空みなみクリニック",
                phone="000-0000-6001",
                doctor_count=1,
                cover="夜間・休日の往診、院長不在時の代診",
                agreement_signed=True,
                device_patient_count=3,
            ),
            BackedUpClinic(
                name="架空にしクリニック",
                phone="000-0000-6002",
                doctor_count=1,
                cover="院長不在時の代診",
                agreement_signed=False,
            ),
        ]
        if active
        else [],
        area_ventilator_patients=[
            AreaVentilatorPatient(
                label="架空患者E（仮名）",
                therapy=Therapy.TPPV,
                care_institution="架空みなみクリニック",
                municipality="架空市",
                internal_battery_hours=3,
                external_battery_hours=6,
                max_hours_without_device=0,
                backup_hospital="架空中央病院",
                backup_preregistered=True,
                transport_plan="119で救急搬送",
            ),
            AreaVentilatorPatient(
                label="架空患者F（仮名）",
                therapy=Therapy.NPPV,
                care_institution="架空にしクリニック",
                municipality="架空町",
                internal_battery_hours=4,
                external_battery_hours=4,
                max_hours_without_device=8,
                backup_hospital="架空東病院",
                backup_preregistered=False,
            ),
        ]
        if active
        else [],
        local_facts=LOCAL_FACTS
        | (
            {"積極的医療機関との代診の取り決め（文書の有無・締結日）": "2024年4月 文書で締結"}
            if plan_kind == "single_doctor_clinic"
            else {}
        ),
    )


def write_example(out_dir: Path, plan_kind: PlanKind = "active_institution") -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    context = example_context(plan_kind)
    draft = render_draft(context)
    (out_dir / "bcp-example.html").write_text(draft.html, encoding="utf-8")
    target = out_dir / "bcp-example.docx"
    target.write_bytes(html_to_docx(draft.html, title=draft.title, created=context.generated_at))
    return target


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[2]
    print(write_example(Path(sys.argv[1]) if len(sys.argv) > 1 else root / "docs" / "examples"))
