"""The one triage order: the cases from the domain review, in Python and in SQL, and its three users."""

from sqlmodel import select

from bcp_service.bcp.context import Patient as BcpPatient
from bcp_service.bcp.context import Therapy
from bcp_service.bcp.example import example_context
from bcp_service.models import Patient, SafetyCheck
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from bcp_service.rounds.triage import TriageInput, triage_key, triage_order
from tests.board.builders import build_area, phone, record
from tests.factories import create_patient

# (name, patient fields, answer state, hours stated), listed in the order they must come.
CASES = [
    # Unknown hours count as zero: before a TPPV user who said 3 h.
    ("TPPV 要支援 時間不明", dict(uses_ventilator=True, ventilator_mode="invasive", uses_oxygen=False), "needs_help", None),
    ("TPPV 停電 3h", dict(uses_ventilator=True, ventilator_mode="invasive", uses_oxygen=False), "power_out", 3.0),
    ("TPPV 要支援 5h", dict(uses_ventilator=True, ventilator_mode="invasive", uses_oxygen=False), "needs_help", 5.0),
    ("方式不明の呼吸器 10h", dict(uses_ventilator=True, ventilator_mode=None, uses_oxygen=False), "power_out", 10.0),
    ("NPPV 離脱1h 停電 8h", dict(uses_ventilator=True, ventilator_mode="non_invasive", uses_oxygen=False,
                              max_hours_without_device=1), "power_out", 8.0),
    ("NPPV 離脱不明 搬送", dict(uses_ventilator=True, ventilator_mode="non_invasive", uses_oxygen=False), "needs_transport", 12.0),
    ("NPPV 離脱6h 停電 1h", dict(uses_ventilator=True, ventilator_mode="non_invasive", uses_oxygen=False,
                              max_hours_without_device=6), "power_out", 1.0),
    # The review's case: a critical oxygen user with unknown reserve comes before a standard one with 8 h.
    ("酸素 重症 要支援 残量不明", dict(max_hours_without_device=0.5, cylinder_hours=2.0), "needs_help", None),
    ("吸引器 要支援", dict(uses_oxygen=False, uses_suction=True), "needs_help", None),
    ("酸素 離脱1.5h 停電 4h", dict(max_hours_without_device=1.5), "power_out", 4.0),
    ("酸素 標準 停電 1h", dict(max_hours_without_device=4, oxygen_source="liquid", cylinder_hours=12.0), "power_out", 1.0),
    ("酸素 標準 要支援 8h", dict(max_hours_without_device=4, oxygen_source="liquid", cylinder_hours=12.0), "needs_help", 8.0),
    ("未回答 TPPV", dict(uses_ventilator=True, ventilator_mode="invasive", uses_oxygen=False), None, None),
    ("未回答 酸素 標準", dict(max_hours_without_device=4, oxygen_source="liquid", cylinder_hours=12.0), None, None),
    ("無事 TPPV", dict(uses_ventilator=True, ventilator_mode="invasive", uses_oxygen=False), "safe", None),
    ("入院済み 酸素", dict(max_hours_without_device=0.5), "admitted", None),
]


def _input(fields: dict, state: str | None, hours: float | None, index: int) -> TriageInput:
    values = {"uses_oxygen": True, **fields}
    keep = {k: v for k, v in values.items() if k in TriageInput.__dataclass_fields__}
    return TriageInput(**keep, state=state or "no_answer", hours_left=hours, id=100 - index)


def test_the_cases_order_as_written_in_python():
    inputs = [_input(f, s, h, i) for i, (_, f, s, h) in enumerate(CASES)]
    shuffled = list(reversed(inputs))
    assert sorted(shuffled, key=triage_key) == inputs


def test_the_same_order_in_sql_on_the_nurse_page_and_the_board(session, settings, browser_as):
    area = build_area(session)
    people = {}
    for name, fields, _state, _hours in reversed(CASES):
        people[name] = create_patient(session, area.city, phones=[phone()], name=name,
                                      visiting_nurse_station_id=area.station.id, **fields)
    safety_round, _ = start_round(session=session, actor=Actor.system("test"),
                                  target=RoundTarget(municipality_ids=[area.city.id]), reason="manual", drill=True,
                                  settings=settings, title="トリアージ")
    checks = {c.patient_id: c for c in session.exec(select(SafetyCheck).where(SafetyCheck.round_id == safety_round.id))}
    for name, _fields, state, hours in CASES:
        if state:
            record(session, checks[people[name].id], state, hours=hours)
    session.flush()
    ordered = session.exec(
        select(Patient.name).select_from(SafetyCheck).join(Patient, Patient.id == SafetyCheck.patient_id)
        .where(SafetyCheck.round_id == safety_round.id).order_by(*triage_order())
    ).all()
    assert list(ordered) == [name for name, *_ in CASES]

    nurse = browser_as("nurse", area.station.id).get("/nurse").text
    positions = [nurse.index(f'class="pt-name">{name} ') for name, *_ in CASES]
    assert positions == sorted(positions)
    board = browser_as("prefecture", area.prefecture.id).get(f"/board/rounds/{safety_round.id}").text
    priority = board.split('id="sec-priority"')[1].split("</section>")[0]
    needing = [name for name, _f, state, _h in CASES if state in ("power_out", "needs_help", "needs_transport")]
    positions = [priority.index(f">{name}<") for name in needing]
    assert positions == sorted(positions)


def test_bcp_call_list_puts_tppv_before_oxygen_users():
    def patient(label, therapy, **extra):
        return BcpPatient(label=label, therapy=therapy, **extra)

    expected = [
        patient("方式未登録 電池不明", Therapy.VENTILATOR),  # unknown battery counts as zero hours
        patient("TPPV 電池8h", Therapy.TPPV, internal_battery_hours=4, external_battery_hours=4, max_hours_without_device=0),
        patient("NPPV 離脱1h", Therapy.NPPV, max_hours_without_device=1, internal_battery_hours=10),
        patient("NPPV 離脱4h 電池2h", Therapy.NPPV, max_hours_without_device=4, internal_battery_hours=2),
        patient("酸素 離脱不明 ボンベ10h", Therapy.HOME_OXYGEN, oxygen_source="濃縮器", cylinder_hours=10),
        patient("酸素 離脱3h ボンベ1h", Therapy.HOME_OXYGEN, oxygen_source="濃縮器", cylinder_hours=1,
                max_hours_without_device=3),
        patient("酸素 離脱3h ボンベ5h", Therapy.HOME_OXYGEN, oxygen_source="濃縮器", cylinder_hours=5,
                max_hours_without_device=3),
    ]
    context = example_context().model_copy(update={"patients": list(reversed(expected))})
    assert [p.label for p in context.patients_by_priority] == [p.label for p in expected]
