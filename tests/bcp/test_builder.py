from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bcp_service.bcp.builder import build, build_context, default_plan_kind
from bcp_service.bcp.context import Therapy
from bcp_service.bcp.drill import last_drill_for
from bcp_service.bcp.render import render_draft
from bcp_service.errors import FieldError
from bcp_service.models import CheckAnswer, SafetyCheck, SafetyRound
from tests.bcp.registry import build_area
from tests.factories import create_institution, create_municipality, create_patient, create_prefecture

CHAPTERS = ["1. 総論", "2. 平常時の対応", "3. 緊急時の対応", "4. 他施設との連携", "5. 地域との連携", "6. 様式"]


def _bare_institution(session):
    prefecture = create_prefecture(session)
    town = create_municipality(session, prefecture)
    return create_institution(session, town, kind="clinic", name="ぽつんと診療所")


def test_bare_institution_has_only_name_and_kind(session, plan_kind):
    institution = _bare_institution(session)

    context = build_context(session=session, institution_id=institution.id, plan_kind=plan_kind)

    assert context.plan_kind == plan_kind
    assert context.facility.name == "ぽつんと診療所" and context.facility.kind_label == "診療所"
    assert context.facility.address is None and context.facility.phone is None
    assert context.facility.home_care_region is None and context.facility.designations == []
    assert context.active_institution is None and context.hub is None
    assert context.staff_contacts == [] and context.patients == [] and context.suppliers == []
    assert context.backup_hospitals == [] and context.nearby_institutions == []
    assert context.municipality_office is None and context.public_health_center is None and context.fire_ems is None
    assert context.last_drill is None and context.area_ventilator_patients == []

    draft = render_draft(context)
    assert [s.section for s in draft.sections] == CHAPTERS
    assert draft.overall_completeness < 0.2
    labels = {b.label for b in draft.blanks}
    assert {"連携拠点", "職員連絡網", "医療機器使用患者の登録", "後方支援病院", "直近の安否確認訓練"} <= labels


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("clinic", "single_doctor_clinic"),
        ("home_care_support_clinic", "home_care_support"),
        ("home_care_support_hospital", "home_care_support"),
        ("visiting_nurse_station", "visiting_nurse_station"),
    ],
)
def test_plan_kind_defaults_from_the_institution_kind(session, kind, expected):
    institution = _bare_institution(session)
    institution.kind = kind
    assert default_plan_kind(session, institution) == expected


def test_active_designation_wins_and_other_kinds_must_choose(session):
    area = build_area(session)
    assert default_plan_kind(session, area.active) == "active_institution"
    with pytest.raises(FieldError):
        default_plan_kind(session, area.public_bodies[3])  # a pharmacy writes no plan of these kinds
    assert build_context(session=session, institution_id=area.public_bodies[3].id, plan_kind="home_care_support")


def test_filled_registry_fills_every_section(session):
    area = build_area(session)
    for institution in (area.clinic, area.support_clinic, area.station, area.active):
        built = build(session=session, institution_id=institution.id)
        context = built.context
        assert context.hub.name == "架空市医師会 在宅医療連携センター"
        assert context.facility.home_care_region == "架空北部在宅医療圏"
        assert len(context.staff_contacts) == 3 and context.staff_contacts[0].phone.startswith("090-")
        assert [h.name for h in context.backup_hospitals] == ["架空中央病院"]
        assert [s.name for s in context.suppliers] == ["架空メディカル"] and context.suppliers[0].phone
        assert context.municipality_office.name == "架空市役所" and context.fire_ems.name == "架空市消防本部"
        assert context.public_health_center.name == "架空保健所"
        assert "架空さくら薬局" in [i.name for i in context.nearby_institutions]
        if context.plan_kind != "active_institution":
            assert context.active_institution.name == "架空在宅ケア病院"
        draft = render_draft(context)
        assert all(s.ratio > 0 for s in draft.sections), draft.sections
        registry_gaps = {b.label for b in draft.blanks if b.kind == "registry"}
        assert "直近の安否確認訓練" in registry_gaps


def test_exact_completeness_for_the_single_doctor_clinic(session):
    """The clinic has two patients with every registry field set, three staff, one backup hospital
    and one supplier. What stays blank is what the registry cannot know: the facility's own answers
    (local), the supplier's emergency arrangement, and the drill that never took place."""
    area = build_area(session)

    draft = render_draft(build_context(session=session, institution_id=area.clinic.id))

    counts = [(s.filled, s.total) for s in draft.sections]
    # 様式4-2: 2 patients x 3 power fields; chapter 3's call list shows the oxygen user's cylinder hours
    # (issue 25.6: the hours the call order is computed from).
    assert counts == [(10, 16), (1, 10), (10, 12), (11, 13), (12, 14), (45, 47)]
    assert sorted(b.label for b in draft.blanks if b.kind == "registry") == [
        "架空メディカル：供給内容",
        "直近の安否確認訓練",
    ]
    assert len([b for b in draft.blanks if b.kind == "local"]) == 21
    assert len(draft.blanks) == sum(t - f for f, t in counts)


def test_one_missing_transport_plan_is_one_more_blank(session):
    area = build_area(session)
    before = render_draft(build_context(session=session, institution_id=area.clinic.id))
    patient = area.patients["clinic_vent"]
    patient.transport_plan_notes = None
    session.add(patient)
    session.flush()

    after = render_draft(build_context(session=session, institution_id=area.clinic.id))

    new = [b for b in after.blanks if b not in before.blanks]
    assert [(b.section, b.label) for b in new] == [("6. 様式", f"{patient.name}：搬送計画")]
    assert after.sections[5].total == before.sections[5].total
    assert after.sections[5].filled == before.sections[5].filled - 1


def test_patients_are_mapped_with_devices_hours_and_plans(session):
    area = build_area(session)
    child = create_patient(
        session,
        area.town,
        active_institution_id=area.clinic.id,
        uses_oxygen=False,
        oxygen_source=None,
        uses_ventilator=True,
        ventilator_mode=None,
        medically_dependent_child=True,
    )

    context = build_context(session=session, institution_id=area.clinic.id)

    by_label = {p.label: p for p in context.patients}
    vent = by_label[area.patients["clinic_vent"].name]
    assert vent.therapy == Therapy.TPPV and vent.device_model == "架空ベント V60"
    assert (vent.internal_battery_hours, vent.external_battery_hours) == (3.0, 8.0)
    assert vent.backup_hospital == "架空中央病院" and vent.backup_preregistered is True
    assert vent.transport_plan.startswith("119") and vent.supplier == "架空メディカル" and vent.risk_tier == "最優先"
    oxygen = by_label[area.patients["clinic_oxygen"].name]
    assert oxygen.therapy == Therapy.HOME_OXYGEN and oxygen.oxygen_source == "酸素濃縮器"
    assert (oxygen.oxygen_flow_l_min, oxygen.cylinder_hours) == (2.0, 10.0)
    unknown = by_label[child.name]
    assert unknown.therapy == Therapy.VENTILATOR and unknown.uses_ventilator and unknown.medically_dependent_child
    assert unknown.backup_hospital is None and unknown.backup_preregistered is False
    html = render_draft(context).html
    assert "人工呼吸器（方式未登録）1名" in html


def test_nursing_station_lists_each_patients_doctor(session):
    area = build_area(session)
    context = build_context(session=session, institution_id=area.station.id)
    assert context.plan_kind == "visiting_nurse_station"
    assert sorted(p.care_institution for p in context.patients) == sorted(
        [area.clinic.name, area.support_clinic.name, area.active.name]
    )


def test_active_institution_gets_area_ventilator_users_by_number(session):
    area = build_area(session)
    built = build(session=session, institution_id=area.active.id)
    context = built.context

    own = {area.patients["active_vent"].name, area.patients["active_oxygen"].name}
    assert {p.label for p in context.patients} == own
    others = [area.patients[k] for k in ("clinic_vent", "support_clinic_vent", "unlinked_vent")]
    assert sorted(p.label for p in context.area_ventilator_patients) == sorted(f"患者ID {p.id}" for p in others)
    assert all(p.name not in render_draft(context).html for p in others)
    assert sorted(built.patient_ids) == sorted(
        [area.patients["active_vent"].id, area.patients["active_oxygen"].id] + [p.id for p in others]
    )
    assert [c.name for c in context.backed_up_clinics] == ["架空みなみクリニック"]
    assert context.backed_up_clinics[0].device_patient_count == 2


def test_last_drill_counts_this_institutions_patients(session):
    area = build_area(session)
    started = datetime(2025, 1, 17, 1, 0, tzinfo=UTC)
    for title, drill, when in (
        ("令和6年度 合同訓練", True, started),
        ("本番の安否確認", False, started + timedelta(days=30)),
    ):
        safety_round = SafetyRound(
            reason="manual",
            drill=drill,
            title=title,
            started_by_name="admin",
            started_at=when,
            expires_at=when + timedelta(hours=6),
        )
        session.add(safety_round)
        session.flush()
        for n, key in enumerate(("clinic_vent", "clinic_oxygen", "active_vent")):
            patient = area.patients[key]
            state = ("safe", "no_answer", "power_out")[n]
            check = SafetyCheck(
                round_id=safety_round.id,
                patient_id=patient.id,
                risk_tier=patient.risk_tier,
                municipality_id=patient.municipality_id,
                state=state,
            )
            session.add(check)
            session.flush()
            if state != "no_answer":
                session.add(
                    CheckAnswer(
                        check_id=check.id,
                        round_id=safety_round.id,
                        state=state,
                        channel="link",
                        observed_at=when + timedelta(minutes=4 + 6 * n),
                    )
                )
    session.flush()

    drill = last_drill_for(session, area.clinic.id)

    assert drill is not None and drill.round_name == "令和6年度 合同訓練"
    assert drill.held_on.isoformat() == "2025-01-17"
    assert (drill.target_count, drill.answered_count, drill.median_minutes_to_answer) == (2, 1, 4.0)
    assert last_drill_for(session, area.station.id) is not None
    assert last_drill_for(session, area.backup.id).target_count == 3
    assert last_drill_for(session, area.supplier.id) is None
    context = build_context(session=session, institution_id=area.clinic.id)
    draft = render_draft(context)
    assert "直近の安否確認訓練" not in {b.label for b in draft.blanks}
    assert (draft.sections[1].filled, draft.sections[1].total) == (3, 11)
