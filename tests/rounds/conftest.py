import itertools
from types import SimpleNamespace

import pytest

from tests.factories import (
    create_institution,
    create_municipality,
    create_patient,
    create_prefecture,
    create_region,
    designate,
)

_phones = itertools.count(10_000_000)


def phone() -> str:
    return f"+8190{next(_phones)}"


@pytest.fixture
def area(session):
    prefecture = create_prefecture(session)
    city = create_municipality(session, prefecture)
    town = create_municipality(session, prefecture)
    region = create_region(session, prefecture, [city])
    hub = create_institution(session, city, kind="medical_association")
    designate(session, hub, region, "hub", covers=[city])
    clinic = create_institution(session, city)
    station = create_institution(session, city, kind="visiting_nurse_station")
    return SimpleNamespace(
        prefecture=prefecture, city=city, town=town, region=region, hub=hub, clinic=clinic, station=station
    )


def add_patient(session, municipality, *, phones=None, **overrides):
    return create_patient(session, municipality, phones=[phone()] if phones is None else phones, **overrides)


def round_body(**target) -> dict:
    return {"reason": "disaster", "drill": False, "target": target}
