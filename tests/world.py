"""A test world of three prefectures (issue 23): Chiba, Ibaraki and Tochigi, small and synthetic.

Each prefecture has two municipalities, two regions, two designated hubs, two clinics (active
institutions), two visiting-nurse stations, a backup hospital, patients (one of them cross-border: its
backup hospital is in the next prefecture, a link only an admin may make), a running drill round
with checks, a pending trigger start, a schedule, a BCP draft and an unread SMS reply. Every scoped
role has two accounts per prefecture, each with an API client (bearer) and a page client (cookie
session and its CSRF token).

Use the ``world3`` fixture (import it into the test module).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from bcp_service.auth.deps import SESSION_COOKIE
from bcp_service.auth.service import start_web_session
from bcp_service.models import (
    ApiToken,
    Designation,
    Patient,
    PatientContact,
    Prefecture,
    RegionChange,
    SafetyCheck,
    TriggerRecord,
    UnmatchedReply,
)
from bcp_service.models.base import utcnow
from bcp_service.registry.schemas import check_digit
from tests.factories import bearer, create_institution, create_patient, create_region, create_user, designate

PREFECTURES = (
    ("12", "千葉県", ("千葉市", "銚子市")),
    ("08", "茨城県", ("水戸市", "日立市")),
    ("09", "栃木県", ("宇都宮市", "足利市")),
)
SCOPED_ROLES = ("prefecture", "hub", "institution", "nurse")
_serial = itertools.count(1)


@dataclass
class Account:
    role: str
    prefecture: str  # the code of its prefecture
    user_id: int
    api: TestClient
    page: TestClient
    csrf: str
    scope_id: int


@dataclass
class Land:
    """One prefecture's rows."""

    code: str
    prefecture: Prefecture
    municipalities: list = field(default_factory=list)
    regions: list = field(default_factory=list)
    hubs: list = field(default_factory=list)
    clinics: list = field(default_factory=list)
    stations: list = field(default_factory=list)
    backup: object = None
    patients: list = field(default_factory=list)
    contact_id: int = 0
    designation_id: int = 0
    round_id: int = 0
    check_id: int = 0
    own_check_id: int = 0  # a check of patients[0], the first hub's, clinic's and station's patient
    record_id: int = 0
    schedule_id: int = 0
    draft_id: int = 0
    reply_id: int = 0
    token_id: int = 0
    nurse_user_id: int = 0
    change_id: int = 0  # a region change scheduled for later (registry/region_changes.py)


@dataclass
class World:
    lands: dict[str, Land]
    accounts: list[Account]
    admin: TestClient

    def other(self, code: str) -> Land:
        """The next prefecture round the ring (Chiba → Ibaraki → Tochigi → Chiba)."""
        codes = list(self.lands)
        return self.lands[codes[(codes.index(code) + 1) % len(codes)]]

    def all_patient_ids(self, code: str) -> set[int]:
        return {p.id for p in self.lands[code].patients}


def municipality_code(prefecture_code: str) -> str:
    five = f"{prefecture_code}{next(_serial) % 900 + 100}"
    return five + check_digit(five)


def _prefecture(session: Session, code: str, name: str) -> Prefecture:
    found = session.exec(select(Prefecture).where(Prefecture.code == code)).first()
    if found is None:
        found = Prefecture(code=code, name=name)
        session.add(found)
        session.flush()
    return found


def _municipality(session: Session, prefecture: Prefecture, name: str):
    from bcp_service.models import Municipality

    municipality = Municipality(
        code=municipality_code(prefecture.code), name=f"{name}{next(_serial)}", prefecture_id=prefecture.id
    )
    session.add(municipality)
    session.flush()
    return municipality


def _account(app, session, settings, role: str, scope_id: int, code: str) -> Account:
    user = create_user(session, role, scope_id)
    api = TestClient(app, headers=bearer(session, user))
    token, row = start_web_session(session=session, user=user, settings=settings)
    page = TestClient(app, cookies={SESSION_COOKIE: token})
    return Account(role, code, user.id, api, page, row.csrf_token, scope_id)


def _land(session: Session, code: str, name: str, towns: tuple[str, str]) -> Land:
    land = Land(code=code, prefecture=_prefecture(session, code, name))
    land.municipalities = [_municipality(session, land.prefecture, town) for town in towns]
    for m in land.municipalities:
        region = create_region(session, land.prefecture, [m])
        hub = create_institution(session, m, kind="medical_association", external_id=f"W-HUB-{next(_serial)}")
        designate(session, hub, region, "hub", covers=[m])
        clinic = create_institution(session, m, kind="home_care_support_clinic", external_id=f"W-CL-{next(_serial)}")
        designate(session, clinic, region, "active_institution")
        station = create_institution(session, m, kind="visiting_nurse_station", external_id=f"W-ST-{next(_serial)}")
        land.regions.append(region)
        land.hubs.append(hub)
        land.clinics.append(clinic)
        land.stations.append(station)
    land.backup = create_institution(
        session, land.municipalities[0], kind="backup_hospital", external_id=f"W-BH-{next(_serial)}"
    )
    for i, m in enumerate(land.municipalities):
        land.patients.append(
            create_patient(
                session,
                m,
                name=f"{name}患者{i}",
                active_institution_id=land.clinics[i].id,
                visiting_nurse_station_id=land.stations[i].id,
                hub_id=land.hubs[i].id,
                backup_hospital_id=land.backup.id,
                external_id=f"W-P-{next(_serial)}",
                phones=[f"+8190{next(_serial):08d}"],
            )
        )
    land.designation_id = session.exec(
        select(Designation.id).where(Designation.institution_id == land.hubs[0].id)
    ).first()
    land.contact_id = session.exec(
        select(PatientContact.id).where(PatientContact.patient_id == land.patients[0].id)
    ).first()
    return land


@pytest.fixture
def world3(app, session, settings, admin_user) -> World:
    lands = {code: _land(session, code, name, towns) for code, name, towns in PREFECTURES}
    # Cross-border: a patient whose backup hospital is in the next prefecture (set by an admin).
    codes = list(lands)
    for i, code in enumerate(codes):
        nxt = lands[codes[(i + 1) % len(codes)]]
        land = lands[code]
        land.patients.append(
            create_patient(
                session,
                land.municipalities[1],
                name=f"越境患者{code}",
                backup_hospital_id=nxt.backup.id,
                active_institution_id=land.clinics[1].id,
                phones=[f"+8190{next(_serial):08d}"],
            )
        )
    admin = TestClient(app, headers=bearer(session, admin_user))
    accounts = []
    for code, land in lands.items():
        scopes = {
            "prefecture": [land.prefecture.id, land.prefecture.id],
            "hub": [h.id for h in land.hubs],
            "institution": [c.id for c in land.clinics],
            "nurse": [s.id for s in land.stations],
        }
        for role in SCOPED_ROLES:
            for scope_id in scopes[role]:
                accounts.append(_account(app, session, settings, role, scope_id, code))
        land.nurse_user_id = next(a.user_id for a in accounts if a.role == "nurse" and a.prefecture == code)
        land.token_id = session.exec(select(ApiToken.id).where(ApiToken.user_id == accounts[-1].user_id)).first()
    session.flush()
    for land in lands.values():
        _activity(session, admin, land)
    world = World(lands, accounts, admin)
    yield world
    admin.close()
    for account in accounts:
        account.api.close()
        account.page.close()


def _activity(session: Session, admin: TestClient, land: Land) -> None:
    """A running drill round, a pending trigger start, a schedule, a BCP draft and an unread reply."""
    ids = [m.id for m in land.municipalities]
    started = admin.post(
        "/api/v1/rounds", json={"reason": "disaster", "drill": True, "target": {"municipality_ids": ids}}
    )
    assert started.status_code == 201, started.text
    land.round_id = started.json()["id"]
    checks = {
        c.patient_id: c.id for c in session.exec(select(SafetyCheck).where(SafetyCheck.round_id == land.round_id))
    }
    land.own_check_id = checks[land.patients[0].id]
    land.check_id = checks[land.patients[1].id]
    record = TriggerRecord(
        event_id=f"W-EV-{next(_serial)}",
        hazard="earthquake",
        title="試験地震",
        municipalities=[m.code for m in land.municipalities],
        max_severity=7,
        municipality_severity={},
        first_seen_at=utcnow(),
        state="pending",
        not_before=utcnow() + timedelta(hours=1),
    )
    session.add(record)
    schedule = admin.post(
        "/api/v1/schedules",
        json={"name": f"定期{land.code}", "interval_minutes": 600, "drill": True, "target": {"municipality_ids": ids}},
    )
    assert schedule.status_code == 201, schedule.text
    land.schedule_id = schedule.json()["id"]
    draft = admin.post(f"/api/v1/institutions/{land.clinics[0].id}/bcp-drafts")
    assert draft.status_code in (200, 201), draft.text
    land.draft_id = draft.json()["id"]
    phone = session.exec(select(PatientContact.phone).where(PatientContact.patient_id == land.patients[1].id)).first()
    reply = UnmatchedReply(
        from_number=phone,
        body="だいじょうぶ",
        provider_message_id=f"SMW{next(_serial)}",
        reason="unreadable",
        candidate_check_id=land.check_id,
    )
    session.add(reply)
    session.flush()
    land.record_id, land.reply_id = record.id, reply.id
    change = RegionChange(
        prefecture_id=land.prefecture.id,
        kind="rename",
        summary="名称の変更（予定）",
        params={"region_id": land.regions[0].id, "name": f"予定圏域{land.code}"},
        effective_on=date.today() + timedelta(days=30),
    )
    session.add(change)
    session.flush()
    land.change_id = change.id


def patient_names(world: World) -> dict[str, set[str]]:
    return {code: {p.name for p in land.patients} for code, land in world.lands.items()}


__all__ = ["Patient", "World", "patient_names", "world3"]
