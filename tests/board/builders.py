"""A small round with one person in each situation the board and the nurse pages must handle."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

from sqlmodel import Session, select

from bcp_service.answers.service import record_answer
from bcp_service.config import Settings
from bcp_service.models import OutboxMessage, SafetyCheck
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from tests.factories import (
    create_institution,
    create_municipality,
    create_patient,
    create_prefecture,
    create_region,
    designate,
)

_phones = itertools.count(20_000_000)


def phone() -> str:
    return f"+8190{next(_phones)}"


def build_area(session: Session) -> SimpleNamespace:
    prefecture = create_prefecture(session)
    city = create_municipality(session, prefecture)
    town = create_municipality(session, prefecture)
    region = create_region(session, prefecture, [city])
    hub = create_institution(session, city, kind="medical_association")
    designate(session, hub, region, "hub", covers=[city])
    station = create_institution(session, city, kind="visiting_nurse_station")
    other_station = create_institution(session, town, kind="visiting_nurse_station")
    return SimpleNamespace(
        prefecture=prefecture,
        city=city,
        town=town,
        region=region,
        hub=hub,
        station=station,
        other_station=other_station,
    )


def build_round(session: Session, settings: Settings, *, drill: bool = True, answer: bool = True) -> SimpleNamespace:
    area = build_area(session)

    def patient(municipality, station=None, **overrides):
        return create_patient(
            session,
            municipality,
            phones=[phone(), phone()],
            visiting_nurse_station_id=(station or area.station).id,
            **overrides,
        )

    people = SimpleNamespace(
        vent_dark=patient(
            area.city,
            uses_ventilator=True,
            ventilator_mode="invasive",
            uses_oxygen=False,
            internal_battery_hours=4,
            external_battery_hours=4,
            name="呼吸器 停電",
        ),
        vent_dark_later=patient(
            area.city,
            uses_ventilator=True,
            ventilator_mode="invasive",
            uses_oxygen=False,
            internal_battery_hours=4,
            external_battery_hours=4,
            name="呼吸器 停電長",
        ),
        oxygen_help=patient(area.city, name="酸素 要支援"),
        transport=patient(area.city, name="搬送 必要"),
        safe=patient(area.city, name="無事 太郎"),
        silent_critical=patient(
            area.city, uses_ventilator=True, ventilator_mode="invasive", uses_oxygen=False, name="未回答 重症"
        ),
        silent_standard=patient(area.city, oxygen_source="liquid", cylinder_hours=12.0, name="未回答 標準"),
        town_person=patient(area.town, station=area.other_station, name="隣町 花子"),
    )
    safety_round, _ = start_round(
        session=session,
        actor=Actor.system("test"),
        target=RoundTarget(municipality_ids=[area.city.id, area.town.id]),
        reason="manual",
        drill=drill,
        settings=settings,
        title="テスト地震",
    )
    checks = {
        c.patient_id: c for c in session.exec(select(SafetyCheck).where(SafetyCheck.round_id == safety_round.id)).all()
    }
    check_of = {name: checks[p.id] for name, p in vars(people).items()}
    if answer:
        record(session, check_of["vent_dark"], "power_out", hours=2.5)
        record(session, check_of["vent_dark_later"], "power_out", hours=6)
        record(session, check_of["oxygen_help"], "needs_help")
        record(session, check_of["transport"], "needs_transport")
        record(session, check_of["safe"], "safe")
    session.flush()
    return SimpleNamespace(area=area, people=people, round=safety_round, checks=check_of)


def record(session: Session, check: SafetyCheck, state: str, *, hours: float | None = None, channel: str = "link"):
    answer, _ = record_answer(session=session, check_id=check.id, state=state, channel=channel, hours_left=hours)
    return answer


def answer_token(session: Session, check: SafetyCheck) -> str:
    message = session.exec(select(OutboxMessage).where(OutboxMessage.check_id == check.id)).first()
    return message.answer_token
