from __future__ import annotations

import pytest

from bcp_service.bcp.context import PlanKind

PLAN_KINDS: list[PlanKind] = [
    "single_doctor_clinic",
    "home_care_support",
    "visiting_nurse_station",
    "active_institution",
]


@pytest.fixture(params=PLAN_KINDS)
def plan_kind(request: pytest.FixtureRequest) -> PlanKind:
    return request.param
