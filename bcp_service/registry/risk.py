"""The risk tier: who is reached and helped first when the power goes out.

The rule, for a clinician to check (README.md repeats it):

=========  ==================================================================================
tier       a patient is in this tier when
=========  ==================================================================================
critical   - on invasive ventilation (TPPV, tracheostomy): cannot be without the ventilator; or
           - on non-invasive ventilation (NPPV) and EITHER can be without it for less than
             2 hours OR the internal plus external batteries last less than 8 hours; or
           - on home oxygen, can be without oxygen for less than 1 hour and the cylinders
             last less than 3 hours.
high       - any other ventilator user; or
           - on home oxygen from a concentrator (needs mains power) with cylinders lasting
             less than 6 hours; or
           - on home oxygen and can be without it for less than 2 hours; or
           - a medically dependent child (医療的ケア児) on any device; or
           - depends on a suction device.
standard   everyone else (for example oxygen users with long-lasting cylinders or liquid oxygen).
=========  ==================================================================================

A value the registry does not know counts against the patient: an unknown battery time is
treated as zero hours, an unknown tolerance as zero hours. Missing data therefore never
lowers a tier; it raises it until someone fills it in.
"""

from __future__ import annotations

from dataclasses import dataclass

from bcp_service.models.enums import OxygenSource, RiskTier, VentilatorMode


@dataclass(frozen=True)
class RiskInputs:
    uses_ventilator: bool = False
    ventilator_mode: str | None = None
    internal_battery_hours: float | None = None
    external_battery_hours: float | None = None
    uses_oxygen: bool = False
    oxygen_source: str | None = None
    cylinder_hours: float | None = None
    uses_suction: bool = False
    medically_dependent_child: bool = False
    max_hours_without_device: float | None = None


def _hours(value: float | None) -> float:
    return value if value is not None else 0.0


def ventilator_battery_hours(inputs: RiskInputs) -> float:
    return _hours(inputs.internal_battery_hours) + _hours(inputs.external_battery_hours)


def derive_risk_tier(inputs: RiskInputs) -> RiskTier:
    return explain_risk_tier(inputs)[0]


def explain_risk_tier(inputs: RiskInputs) -> tuple[RiskTier, str]:
    """The tier and the rule that set it, in words for the registry page."""
    tolerance = _hours(inputs.max_hours_without_device)
    unknown = "（未入力は0時間として扱います）"
    if inputs.uses_ventilator:
        if inputs.ventilator_mode != VentilatorMode.non_invasive:
            # Unknown mode is treated as invasive: the safe assumption.
            why = (
                "侵襲的人工呼吸（TPPV）"
                if inputs.ventilator_mode
                else "人工呼吸器の種類が未入力（侵襲的として扱います）"
            )
            return RiskTier.critical, f"{why}: 呼吸器なしでは過ごせません"
        if tolerance < 2:
            return RiskTier.critical, f"非侵襲的人工呼吸（NPPV）で、呼吸器なしで過ごせる時間が2時間未満{unknown}"
        if ventilator_battery_hours(inputs) < 8:
            return RiskTier.critical, f"非侵襲的人工呼吸（NPPV）で、内部＋外部バッテリーが8時間未満{unknown}"
        return RiskTier.high, "人工呼吸器を使用（NPPV、バッテリー8時間以上、2時間以上は呼吸器なしで過ごせる）"
    if inputs.uses_oxygen:
        cylinders = _hours(inputs.cylinder_hours)
        if tolerance < 1 and cylinders < 3:
            return RiskTier.critical, f"在宅酸素で、酸素なしで過ごせる時間が1時間未満かつボンベが3時間未満{unknown}"
        if tolerance < 2:
            return RiskTier.high, f"在宅酸素で、酸素なしで過ごせる時間が2時間未満{unknown}"
        if inputs.oxygen_source in (None, OxygenSource.concentrator) and cylinders < 6:
            return RiskTier.high, f"酸素濃縮装置（停電で止まる）で、ボンベが6時間未満{unknown}"
    if inputs.medically_dependent_child and (inputs.uses_oxygen or inputs.uses_suction):
        return RiskTier.high, "医療的ケア児で、医療機器を使用"
    if inputs.uses_suction:
        return RiskTier.high, "吸引器を使用（電源が必要）"
    return RiskTier.standard, "上の条件に当たりません（例: ボンベや液体酸素が長く持つ在宅酸素）"


def remaining_power_hours(inputs: RiskInputs) -> float | None:
    """Hours of battery (ventilator) or cylinder oxygen the registry expects, if known."""
    if inputs.uses_ventilator:
        if inputs.internal_battery_hours is None and inputs.external_battery_hours is None:
            return None
        return ventilator_battery_hours(inputs)
    if inputs.uses_oxygen:
        return inputs.cylinder_hours
    return None
