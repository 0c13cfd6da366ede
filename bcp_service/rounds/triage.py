"""The one triage order: who is reached first. The board's priority list, the nurse page and the
BCP call list all sort by it; written once in Python (``triage_key``) and once as SQL
(``triage_order``) from the same ranks, and ``tests/rounds/test_triage.py`` holds both to the
same cases.

The order, for a clinician to check:

1. **Group** of the check's state (check_states): needs help, then not heard from, then safe.
   Without a round (the BCP call list) every patient is in the same group.
2. **Device and dependence**:
   0 invasive ventilation (TPPV), or a ventilator of unknown mode;
   1 NPPV that can be without it for less than 2 hours;
   2 other NPPV;
   3 oxygen that can be without it for less than 1 hour;
   4 oxygen under 2 hours, a suction device, a medically dependent child on a device;
   5 other oxygen users;
   6 no device recorded.
   An unknown tolerance counts as zero hours (as in registry.risk).
3. **Hours left** of battery or oxygen, fewest first; **unknown counts as zero**. In a round these
   are the hours the answer gave (not said, or "don't know", is zero); in the BCP, the registry's.
4. The state's **triage weight** (power out before needs help before transport...), then the id.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, func, or_
from sqlmodel import col

from bcp_service import check_states as states
from bcp_service.models import Patient, SafetyCheck

GROUP_RANK = {states.NEEDS_HELP_GROUP: 0, states.SILENT_GROUP: 1, states.SAFE_GROUP: 2}
NPPV = "non_invasive"
DEPENDENCE_LABELS = ("TPPV", "NPPV・離脱2時間未満", "NPPV", "酸素・離脱1時間未満", "酸素2時間未満・吸引・医療的ケア児",
                     "酸素", "機器なし")


@dataclass(frozen=True)
class TriageInput:
    uses_ventilator: bool = False
    ventilator_mode: str | None = None
    uses_oxygen: bool = False
    uses_suction: bool = False
    medically_dependent_child: bool = False
    max_hours_without_device: float | None = None
    state: str | None = None
    hours_left: float | None = None
    id: int = 0


def dependence_rank(p: TriageInput) -> int:
    tolerance = p.max_hours_without_device or 0.0
    if p.uses_ventilator:
        if p.ventilator_mode != NPPV:
            return 0
        return 1 if tolerance < 2 else 2
    if p.uses_oxygen and tolerance < 1:
        return 3
    if (p.uses_oxygen and tolerance < 2) or p.uses_suction or (p.medically_dependent_child and p.uses_oxygen):
        return 4
    if p.uses_oxygen:
        return 5
    return 6


def group_rank(state: str | None) -> int:
    if state is None:
        return 0
    return GROUP_RANK[states.BY_CODE[state].group]


def triage_key(p: TriageInput) -> tuple:
    hours = p.hours_left if p.hours_left is not None else 0.0
    weight = states.WEIGHTS.get(p.state, 0) if p.state else 0
    return (group_rank(p.state), dependence_rank(p), hours, weight, p.id)


def sort_by_triage(items: list, to_input) -> list:
    return sorted(items, key=lambda item: triage_key(to_input(item)))


def dependence_sql():
    tolerance = func.coalesce(Patient.max_hours_without_device, 0)
    ventilator = col(Patient.uses_ventilator).is_(True)
    oxygen = col(Patient.uses_oxygen).is_(True)
    nppv = and_(col(Patient.ventilator_mode).is_not(None), Patient.ventilator_mode == NPPV)
    return case(
        (and_(ventilator, ~nppv), 0),
        (and_(ventilator, tolerance < 2), 1),
        (ventilator, 2),
        (and_(oxygen, tolerance < 1), 3),
        (or_(and_(oxygen, tolerance < 2), col(Patient.uses_suction).is_(True),
             and_(col(Patient.medically_dependent_child).is_(True), oxygen)), 4),
        (oxygen, 5),
        else_=6,
    )


def triage_order() -> tuple:
    """ORDER BY clauses over a query joining SafetyCheck and Patient (the same order as triage_key)."""
    group = case(
        *[(col(SafetyCheck.state).in_(codes), GROUP_RANK[g])
          for g, codes in ((states.NEEDS_HELP_GROUP, states.NEEDING), (states.SILENT_GROUP, states.SILENT))],
        else_=GROUP_RANK[states.SAFE_GROUP],
    )
    weight = case(states.WEIGHTS, value=SafetyCheck.state, else_=0)
    return (group, dependence_sql(), func.coalesce(SafetyCheck.hours_left, 0), weight, SafetyCheck.id)


def from_patient(patient, *, state: str | None = None, hours_left: float | None = None, id: int = 0) -> TriageInput:
    return TriageInput(
        uses_ventilator=bool(patient.uses_ventilator), ventilator_mode=patient.ventilator_mode,
        uses_oxygen=bool(patient.uses_oxygen), uses_suction=bool(patient.uses_suction),
        medically_dependent_child=bool(patient.medically_dependent_child),
        max_hours_without_device=patient.max_hours_without_device, state=state, hours_left=hours_left, id=id,
    )
