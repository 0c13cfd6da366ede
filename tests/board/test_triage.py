"""The one triage order (rounds.triage): one table of cases through every list.

Python (``triage_key``) and SQL (``triage_order``), the board's priority list and its non-responders,
the nurse page, the board's CSVs and the BCP call list must all put the same people in the same order.
"""

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

from bcp_service.bcp.context import Patient as BcpPatient
from bcp_service.bcp.context import Therapy
from bcp_service.bcp.example import example_context
from bcp_service.models import Patient, SafetyCheck
from bcp_service.models.base import utcnow
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from bcp_service.rounds.triage import NO_DEVICE_HOURS, TriageInput, hours_to_harm, triage_key, triage_order
from tests.board.builders import build_area, phone, record
from tests.factories import create_patient

TPPV = {"uses_ventilator": True, "ventilator_mode": "invasive", "uses_oxygen": False}
NPPV = {"uses_ventilator": True, "ventilator_mode": "non_invasive", "uses_oxygen": False}
OXYGEN = {"uses_oxygen": True}
SUCTION = {"uses_oxygen": False, "uses_suction": True}
NONE = {"uses_oxygen": False}

# People who answered needing help: (name, device, tolerance hours, risk tier, state, hours said,
# expected hours to harm), in the order they must come.
NEEDING = [
    ("TPPV 要支援 時間不明", TPPV, None, "critical", "needs_help", None, 0.0),  # unknown counts as zero
    ("NPPV 離脱0 停電 0.5h", NPPV, 0.0, "critical", "power_out", 0.5, 0.5),
    # The review's case: oxygen with 0.5 h left who tolerates 0.5 h comes long before TPPV with 20 h.
    ("酸素 停電 残0.5h 離脱0.5h", OXYGEN, 0.5, "critical", "power_out", 0.5, 1.0),
    ("吸引 要支援 離脱1h 時間不明", SUCTION, 1.0, "critical", "needs_help", None, 1.0),  # tie: oxygen first
    ("TPPV 停電 3h", TPPV, None, "critical", "power_out", 3.0, 3.0),  # tie: TPPV before oxygen
    ("酸素 搬送 2h 離脱1h", OXYGEN, 1.0, "critical", "needs_transport", 2.0, 3.0),
    ("酸素 重症 4h 離脱1h", OXYGEN, 1.0, "critical", "needs_help", 4.0, 5.0),  # tie: critical before standard
    ("酸素 標準 5h 離脱0h", OXYGEN, 0.0, "standard", "needs_help", 5.0, 5.0),
    ("NPPV 離脱2h 要支援 8h", NPPV, 2.0, "high", "needs_help", 8.0, 10.0),
    ("酸素 標準 8h 離脱4h", OXYGEN, 4.0, "standard", "power_out", 8.0, 12.0),
    ("TPPV 停電 20h", TPPV, 0.0, "critical", "power_out", 20.0, 20.0),
    ("機器なし 要支援", NONE, None, "standard", "needs_help", None, NO_DEVICE_HOURS),
]
# Not heard from: (name, device, tolerance, tier, hours since asked, expected hours to harm).
SILENT = [
    ("未回答 TPPV 3時間前", TPPV, None, "critical", 3.0, 0.0),  # zero, and asked longest ago
    ("未回答 TPPV 10分前", TPPV, None, "critical", 1 / 6, 0.0),
    ("未回答 酸素 離脱2h 3時間前", OXYGEN, 2.0, "critical", 3.0, 0.0),  # its tolerance ran out while silent
    ("未回答 NPPV 離脱1h 30分前", NPPV, 1.0, "critical", 0.5, 0.5),
    ("未回答 酸素 離脱4h 2時間前", OXYGEN, 4.0, "high", 2.0, 2.0),
    ("未回答 酸素 離脱4h 10分前", OXYGEN, 4.0, "high", 1 / 6, 23 / 6),
    ("未回答 機器なし", NONE, None, "standard", 1.0, NO_DEVICE_HOURS),
]
SAFE = [("無事 TPPV", TPPV, None, "critical", "safe")]


def _input(device, tolerance, tier, state, hours, asked_at, ident):
    keep = {k: v for k, v in device.items() if k in TriageInput.__dataclass_fields__}
    return TriageInput(
        **keep,
        max_hours_without_device=tolerance,
        risk_tier=tier,
        state=state,
        hours_left=hours,
        asked_at=asked_at,
        id=ident,
    )


def _python_cases(now):
    inputs = [_input(d, t, tier, s, h, now, 100 - i) for i, (_, d, t, tier, s, h, _e) in enumerate(NEEDING)]
    inputs += [
        _input(d, t, tier, "no_answer", None, now - timedelta(hours=since), 50 - i)
        for i, (_, d, t, tier, since, _e) in enumerate(SILENT)
    ]
    inputs += [_input(d, t, tier, s, None, now, 10 - i) for i, (_, d, t, tier, s) in enumerate(SAFE)]
    return inputs


def test_the_cases_order_as_written_in_python():
    now = utcnow()
    inputs = _python_cases(now)
    assert sorted(inputs, key=lambda p: triage_key(p, now)) == inputs
    expected = [e for *_, e in NEEDING] + [e for *_, e in SILENT]
    assert [hours_to_harm(p, now) for p in inputs[: len(expected)]] == pytest.approx(expected)


def test_tppv_with_20_hours_comes_after_oxygen_with_half_an_hour():
    now = utcnow()
    tppv = _input(TPPV, 0.0, "critical", "power_out", 20.0, now, 1)
    oxygen = _input(OXYGEN, 0.5, "standard", "power_out", 0.5, now, 2)
    assert sorted([tppv, oxygen], key=lambda p: triage_key(p, now)) == [oxygen, tppv]


def test_a_reply_waiting_for_review_ranks_as_needing_help():
    now = utcnow()
    waiting = TriageInput(
        **{**_input(OXYGEN, 4.0, "standard", "no_answer", None, now, 1).__dict__, "review_pending": True}
    )
    helped = _input(TPPV, 0.0, "critical", "needs_help", 30.0, now, 2)
    silent_tppv = _input(TPPV, None, "critical", "no_answer", None, now - timedelta(hours=1), 3)
    assert sorted([silent_tppv, helped, waiting], key=lambda p: triage_key(p, now)) == [waiting, helped, silent_tppv]


@pytest.fixture
def triage_round(session, settings):
    """The table as one round in one area, answers recorded, the silent asked at their times."""
    area = build_area(session)
    people = {}
    every = [(n, d, t, tier) for n, d, t, tier, *_ in NEEDING + SILENT + SAFE]
    for name, device, tolerance, tier in reversed(every):
        patient = create_patient(
            session,
            area.city,
            phones=[phone()],
            name=name,
            max_hours_without_device=tolerance,
            visiting_nurse_station_id=area.station.id,
            **device,
        )
        patient.risk_tier = tier
        session.add(patient)
        people[name] = patient
    session.flush()
    safety_round, _ = start_round(
        session=session,
        actor=Actor.system("test"),
        target=RoundTarget(municipality_ids=[area.city.id]),
        reason="manual",
        drill=True,
        settings=settings,
        title="トリアージ",
    )
    checks = {c.patient_id: c for c in session.exec(select(SafetyCheck).where(SafetyCheck.round_id == safety_round.id))}
    now = utcnow()
    for name, *_rest, state, hours, _e in NEEDING:
        record(session, checks[people[name].id], state, hours=hours)
    for name, *_rest, since, _e in SILENT:
        session.execute(
            update(SafetyCheck)
            .where(SafetyCheck.id == checks[people[name].id].id)
            .values(created_at=now - timedelta(hours=since))
        )
    for name, *_rest, state in SAFE:
        record(session, checks[people[name].id], state)
    session.flush()
    session.expire_all()
    return area, safety_round


def _positions(text: str, names: list[str], pattern: str = ">{}<") -> list[int]:
    return [text.index(pattern.format(name)) for name in names]


def test_the_same_order_in_sql_on_the_board_the_nurse_page_and_the_csvs(session, triage_round, browser_as):
    area, safety_round = triage_round
    all_names = [n for n, *_ in NEEDING + SILENT + SAFE]
    ordered = session.exec(
        select(Patient.name)
        .select_from(SafetyCheck)
        .join(Patient, Patient.id == SafetyCheck.patient_id)
        .where(SafetyCheck.round_id == safety_round.id)
        .order_by(*triage_order())
    ).all()
    assert list(ordered) == all_names

    needing = [n for n, *_ in NEEDING]
    silent = [n for n, *_ in SILENT]
    nurse = browser_as("nurse", area.station.id).get("/nurse").text
    positions = _positions(nurse, all_names, 'class="pt-name">{} ')
    assert positions == sorted(positions)
    assert "害が及ぶまで約1時間（推定）" in nurse

    board_client = browser_as("prefecture", area.prefecture.id)
    board = board_client.get(f"/board/rounds/{safety_round.id}").text
    priority = board.split('id="sec-priority"')[1].split("</section>")[0]
    assert _positions(priority, needing) == sorted(_positions(priority, needing))
    non_responders = board.split('id="sec-silent"')[1].split("</section>")[0]
    assert _positions(non_responders, silent) == sorted(_positions(non_responders, silent))

    for kind, names in (("priority", needing), ("silent", silent)):
        response = board_client.get(f"/board/rounds/{safety_round.id}/export.csv", params={"kind": kind})
        assert response.status_code == 200
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert [r[0] for r in rows[1:]] == names
        column = rows[0].index("害までの推定時間")
        assert rows[1][column] == "0.0"


def test_bcp_call_list_follows_the_same_rule():
    """The BCP has no answers: the registry's battery or cylinder hours stand for the hours left."""
    therapies = {
        id(TPPV): Therapy.TPPV,
        id(NPPV): Therapy.NPPV,
        id(OXYGEN): Therapy.HOME_OXYGEN,
        id(SUCTION): Therapy.OTHER,
        id(NONE): Therapy.OTHER,
    }

    def bcp_patient(name, device, tolerance, tier, hours):
        therapy = therapies[id(device)]
        extra = {}
        if therapy in (Therapy.TPPV, Therapy.NPPV):
            extra["internal_battery_hours"] = hours
        elif therapy == Therapy.HOME_OXYGEN:
            extra.update(oxygen_source="濃縮器", cylinder_hours=hours)
        if device is SUCTION:
            extra["suction_device"] = "電動"
        return BcpPatient(label=name, therapy=therapy, max_hours_without_device=tolerance, risk_tier=tier, **extra)

    expected = [bcp_patient(n, d, t, tier, h) for n, d, t, tier, _s, h, _e in NEEDING]
    context = example_context().model_copy(update={"patients": list(reversed(expected))})
    assert [p.label for p in context.patients_by_priority] == [p.label for p in expected]


@pytest.mark.parametrize(
    "plan_kind", ["active_institution", "home_care_support", "single_doctor_clinic", "visiting_nurse_station"]
)
def test_bcp_drafts_state_the_rule_and_activate_at_level_3(plan_kind):
    """Issue 25.6: the call-order text states this rule and its table follows it; activation at 警戒レベル3."""
    from bcp_service.bcp.render import render_draft
    from bcp_service.rounds.triage import RULE_TEXT

    context = example_context(plan_kind)
    html = render_draft(context).html
    assert "警戒レベル3（高齢者等避難）以上が発令されたとき" in html and "警戒レベル4（避難指示）以上" not in html
    assert RULE_TEXT in html and "同じ人に二重には送らない" not in html
    table = html.split("安否確認の順番（登録情報から作成）")[1].split("</table>")[0]
    labels = [p.label for p in context.patients_by_priority]
    positions = [table.index(label) for label in labels]
    assert positions == sorted(positions) and "害までの推定時間" in table
