import pytest

from bcp_service.models.enums import RiskTier
from bcp_service.registry.risk import RiskInputs, derive_risk_tier, remaining_power_hours


@pytest.mark.parametrize(
    ("inputs", "tier"),
    [
        (
            RiskInputs(
                uses_ventilator=True,
                ventilator_mode="invasive",
                internal_battery_hours=10,
                external_battery_hours=10,
                max_hours_without_device=5,
            ),
            RiskTier.critical,
        ),
        (RiskInputs(uses_ventilator=True, ventilator_mode=None), RiskTier.critical),
        (
            RiskInputs(
                uses_ventilator=True,
                ventilator_mode="non_invasive",
                internal_battery_hours=4,
                external_battery_hours=2,
                max_hours_without_device=6,
            ),
            RiskTier.critical,
        ),
        (
            RiskInputs(
                uses_ventilator=True,
                ventilator_mode="non_invasive",
                internal_battery_hours=4,
                external_battery_hours=8,
                max_hours_without_device=1,
            ),
            RiskTier.critical,
        ),
        (
            RiskInputs(
                uses_ventilator=True,
                ventilator_mode="non_invasive",
                internal_battery_hours=4,
                external_battery_hours=8,
                max_hours_without_device=4,
            ),
            RiskTier.high,
        ),
        (
            RiskInputs(uses_oxygen=True, oxygen_source="concentrator", cylinder_hours=2, max_hours_without_device=0.5),
            RiskTier.critical,
        ),
        (
            RiskInputs(uses_oxygen=True, oxygen_source="concentrator", cylinder_hours=4, max_hours_without_device=4),
            RiskTier.high,
        ),
        (
            RiskInputs(uses_oxygen=True, oxygen_source="concentrator", cylinder_hours=10, max_hours_without_device=1.5),
            RiskTier.high,
        ),
        (
            RiskInputs(uses_oxygen=True, oxygen_source="concentrator", cylinder_hours=10, max_hours_without_device=4),
            RiskTier.standard,
        ),
        (
            RiskInputs(uses_oxygen=True, oxygen_source="liquid", cylinder_hours=2, max_hours_without_device=4),
            RiskTier.standard,
        ),
        (
            RiskInputs(
                uses_oxygen=True, oxygen_source="concentrator", cylinder_hours=None, max_hours_without_device=None
            ),
            RiskTier.critical,
        ),
        (RiskInputs(uses_suction=True, max_hours_without_device=4), RiskTier.high),
        (
            RiskInputs(
                medically_dependent_child=True,
                uses_oxygen=True,
                oxygen_source="liquid",
                cylinder_hours=12,
                max_hours_without_device=8,
            ),
            RiskTier.high,
        ),
        (RiskInputs(), RiskTier.standard),
    ],
)
def test_risk_tier_rule(inputs, tier):
    assert derive_risk_tier(inputs) == tier


def test_unknown_values_never_lower_the_tier():
    known = RiskInputs(uses_oxygen=True, oxygen_source="concentrator", cylinder_hours=10, max_hours_without_device=4)
    unknown = RiskInputs(uses_oxygen=True, oxygen_source="concentrator")
    order = [RiskTier.critical, RiskTier.high, RiskTier.standard]
    assert order.index(derive_risk_tier(unknown)) <= order.index(derive_risk_tier(known))


def test_remaining_power_hours():
    assert (
        remaining_power_hours(RiskInputs(uses_ventilator=True, internal_battery_hours=2, external_battery_hours=6)) == 8
    )
    assert remaining_power_hours(RiskInputs(uses_ventilator=True)) is None
    assert remaining_power_hours(RiskInputs(uses_oxygen=True, cylinder_hours=3)) == 3
