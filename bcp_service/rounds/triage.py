"""The one triage order: who is reached first. The board's priority list and its non-responders,
the nurse page, the BCP call list and the board's CSVs all sort by it; written once in Python
(``triage_key``) and once as SQL (``triage_order``) from the same ranks, and
``tests/board/test_triage.py`` runs one table of cases through every list.

The order, for a clinician to check:

1. **Group** of the check's state (check_states): needs help, then not heard from, then safe. A
   reply waiting in the review queue (「返信あり・要確認」) counts as needing help until someone
   reads it. Without a round (the BCP call list) every patient is in the same group.
2. **Estimated hours to harm**, fewest first: the hours of power or oxygen left plus the hours the
   person tolerates without the device. Unknown counts as zero for anyone on a device (a TPPV user
   who did not say how long the battery lasts is at zero hours). In a round the hours left are the
   answer's; in the BCP call list, the registry's battery or cylinder hours. For someone not heard
   from, the time since they were asked is taken off (their reserve has been running since), never
   below zero. People on no device come after everyone on one (``NO_DEVICE_HOURS``).
3. Among equal hours, a person on a device whose municipality has an open power outage
   (outages.service; the board passes it as ``ties_first``) comes first; the outage does not
   outrank hours: someone who said 10 h of battery in the dark comes after someone with 2 h.
   Then **device class**: TPPV (or a ventilator of unknown mode), NPPV, oxygen, suction,
   no device; then the **risk tier** (critical, high, standard).
4. For the not-heard-from, the **longest since asked** first; then the state's triage weight
   (power out before needs help before transport...), then the id.

So a TPPV user with 20 h of battery (about 20 h to harm) comes after an oxygen user with 0.5 h
left who tolerates 0.5 h without it (1 h to harm).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Float, and_, case, func, literal, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import col

from bcp_service import check_states as states
from bcp_service.clock import aware
from bcp_service.models import Patient, SafetyCheck
from bcp_service.models.base import UtcDateTime, utcnow
from bcp_service.models.enums import RISK_TIER_ORDER

GROUP_RANK = {states.NEEDS_HELP_GROUP: 0, states.SILENT_GROUP: 1, states.SAFE_GROUP: 2}
NPPV = "non_invasive"
DEVICE_LABELS = ("TPPV", "NPPV", "酸素", "吸引", "機器なし")
# Hours to harm of someone on no device: after everyone on one, whatever their reserve.
NO_DEVICE_HOURS = 100_000.0
RULE_TEXT = (
    "害が及ぶまでの推定時間（電源・酸素の残り時間＋機器なしで過ごせる時間。機器を使う人で不明は0時間。"
    "未回答の人は問い合わせからの経過時間を差し引く）の短い順。同じなら機器（TPPV→NPPV→酸素→吸引）、"
    "次にリスク区分の順。"
)


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
    risk_tier: str | None = None
    asked_at: datetime | None = None  # when the check began (its first message)
    review_pending: bool = False  # a reply waits in the review queue
    in_outage: bool = False  # on a device in a municipality with an open power outage
    id: int = 0


def device_class(p: TriageInput) -> int:
    if p.uses_ventilator:
        return 0 if p.ventilator_mode != NPPV else 1
    if p.uses_oxygen:
        return 2
    if p.uses_suction:
        return 3
    return 4


def is_dependent(p: TriageInput) -> bool:
    return bool(p.uses_ventilator or p.uses_oxygen or p.uses_suction)


def group_rank(state: str | None, review_pending: bool = False) -> int:
    if state is None or review_pending:
        return 0
    return GROUP_RANK[states.BY_CODE[state].group]


def is_silent(state: str | None, review_pending: bool = False) -> bool:
    return state is not None and not review_pending and state in states.SILENT


def hours_since_asked(p: TriageInput, now: datetime) -> float:
    if p.asked_at is None or not is_silent(p.state, p.review_pending):
        return 0.0
    return max(0.0, (aware(now) - aware(p.asked_at)).total_seconds() / 3600)


def hours_to_harm(p: TriageInput, now: datetime | None = None) -> float:
    """Estimated hours before the person comes to harm (see the module's rule 2)."""
    if not is_dependent(p):
        return NO_DEVICE_HOURS
    reserve = (p.hours_left or 0.0) + (p.max_hours_without_device or 0.0)
    return max(0.0, reserve - hours_since_asked(p, now or utcnow()))


def triage_key(p: TriageInput, now: datetime | None = None) -> tuple:
    now = now or utcnow()
    weight = states.WEIGHTS.get(p.state, 0) if p.state else 0
    tier = RISK_TIER_ORDER.get(p.risk_tier, 3) if p.risk_tier else 3
    dark = 0 if p.in_outage and is_dependent(p) else 1
    return (
        group_rank(p.state, p.review_pending),
        hours_to_harm(p, now),
        dark,
        device_class(p),
        tier,
        -hours_since_asked(p, now),
        weight,
        p.id,
    )


def sort_by_triage(items: list, to_input, now: datetime | None = None) -> list:
    now = now or utcnow()
    return sorted(items, key=lambda item: triage_key(to_input(item), now))


class _HoursSince(FunctionElement):
    """Hours from a timestamp column to a given moment, in either engine's own arithmetic."""

    type = Float()
    name = "hours_since"
    inherit_cache = True


@compiles(_HoursSince, "postgresql")
def _hours_since_postgresql(element, compiler, **kw):
    column, now = (compiler.process(c, **kw) for c in element.clauses)
    return f"(EXTRACT(EPOCH FROM ({now} - {column})) / 3600.0)"


@compiles(_HoursSince)
def _hours_since_sqlite(element, compiler, **kw):
    column, now = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({now}) - julianday({column})) * 24.0)"


def device_class_sql():
    ventilator = col(Patient.uses_ventilator).is_(True)
    nppv = and_(col(Patient.ventilator_mode).is_not(None), Patient.ventilator_mode == NPPV)
    return case(
        (and_(ventilator, ~nppv), 0),
        (ventilator, 1),
        (col(Patient.uses_oxygen).is_(True), 2),
        (col(Patient.uses_suction).is_(True), 3),
        else_=4,
    )


def review_pending_sql():
    return col(SafetyCheck.review_reply_id).is_not(None)


def silent_sql():
    return and_(col(SafetyCheck.state).in_(states.SILENT), ~review_pending_sql())


def hours_since_asked_sql(now: datetime):
    since = _HoursSince(SafetyCheck.created_at, literal(aware(now), UtcDateTime()))
    return case((silent_sql(), since), else_=0.0)


def hours_to_harm_sql(now: datetime):
    dependent = or_(
        col(Patient.uses_ventilator).is_(True), col(Patient.uses_oxygen).is_(True), col(Patient.uses_suction).is_(True)
    )
    reserve = func.coalesce(SafetyCheck.hours_left, 0.0) + func.coalesce(Patient.max_hours_without_device, 0.0)
    left = reserve - hours_since_asked_sql(now)
    return case((~dependent, NO_DEVICE_HOURS), (left < 0, 0.0), else_=left)


def group_sql():
    return case(
        (review_pending_sql(), GROUP_RANK[states.NEEDS_HELP_GROUP]),
        *[
            (col(SafetyCheck.state).in_(codes), GROUP_RANK[g])
            for g, codes in ((states.NEEDS_HELP_GROUP, states.NEEDING), (states.SILENT_GROUP, states.SILENT))
        ],
        else_=GROUP_RANK[states.SAFE_GROUP],
    )


def triage_order(now: datetime | None = None, ties_first: tuple = ()) -> tuple:
    """ORDER BY clauses over a query joining SafetyCheck and Patient (the same order as triage_key).

    ``ties_first``: the outage tie-break (0 for a person on a device in the dark, else 1), if any.
    """
    now = now or utcnow()
    tier = case({str(k): v for k, v in RISK_TIER_ORDER.items()}, value=SafetyCheck.risk_tier, else_=3)
    weight = case(states.WEIGHTS, value=SafetyCheck.state, else_=0)
    return (
        group_sql(),
        hours_to_harm_sql(now),
        *ties_first,
        device_class_sql(),
        tier,
        hours_since_asked_sql(now).desc(),
        weight,
        SafetyCheck.id,
    )


def from_patient(
    patient,
    *,
    state: str | None = None,
    hours_left: float | None = None,
    id: int = 0,
    asked_at: datetime | None = None,
    review_pending: bool = False,
) -> TriageInput:
    return TriageInput(
        uses_ventilator=bool(patient.uses_ventilator),
        ventilator_mode=patient.ventilator_mode,
        uses_oxygen=bool(patient.uses_oxygen),
        uses_suction=bool(patient.uses_suction),
        medically_dependent_child=bool(patient.medically_dependent_child),
        max_hours_without_device=patient.max_hours_without_device,
        state=state,
        hours_left=hours_left,
        risk_tier=getattr(patient, "risk_tier", None),
        asked_at=asked_at,
        review_pending=review_pending,
        id=id,
    )
