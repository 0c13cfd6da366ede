"""One demo account per role, scoped to plausible Chiba institutions. Passwords are listed in README.md."""

from __future__ import annotations

from sqlmodel import Session, col, select

from bcp_service.auth.roles import Role
from bcp_service.auth.service import create_user
from bcp_service.models import Designation, Institution, Municipality, Prefecture, User
from bcp_service.models.enums import DesignationKind, InstitutionKind

DEMO_PASSWORD_SUFFIX = "-demo-pass"


def demo_password(username: str) -> str:
    return f"{username}{DEMO_PASSWORD_SUFFIX}"


def _first(session: Session, query):
    row = session.exec(query.limit(1)).first()
    if row is None:
        raise RuntimeError("demo structure missing: load the Chiba data first")
    return row


def create_demo_accounts(session: Session) -> list[tuple[str, Role, int | None, str]]:
    """Create (or keep) the demo accounts; returns (username, role, scope id, scope label)."""
    chiba = _first(session, select(Prefecture).where(Prefecture.code == "12"))
    chiba_city = _first(session, select(Municipality).where(Municipality.code == "121002"))
    hub = _first(
        session,
        select(Institution)
        .join(Designation, Designation.institution_id == Institution.id)
        .where(Designation.kind == DesignationKind.hub, Institution.municipality_id == chiba_city.id),
    )
    clinic = _first(
        session,
        select(Institution)
        .join(Designation, Designation.institution_id == Institution.id)
        .where(
            Designation.kind == DesignationKind.active_institution,
            Institution.municipality_id == chiba_city.id,
            Institution.kind == InstitutionKind.home_care_support_clinic,
        )
        .order_by(Institution.id),
    )
    station = _first(
        session,
        select(Institution)
        .where(Institution.kind == InstitutionKind.visiting_nurse_station, Institution.municipality_id == chiba_city.id)
        .order_by(Institution.id),
    )
    accounts = [
        ("admin", Role.admin, None, "全体"),
        ("chiba-pref", Role.prefecture, chiba.id, chiba.name),
        ("chiba-hub", Role.hub, hub.id, hub.name),
        ("chiba-clinic", Role.institution, clinic.id, clinic.name),
        ("chiba-nurse", Role.nurse, station.id, station.name),
        ("public-stats", Role.aggregate, None, "集計のみ"),
        ("jma-feed", Role.system, None, "外部連携（地震情報）"),
    ]
    existing = set(session.exec(select(User.username).where(col(User.username).in_([a[0] for a in accounts]))).all())
    for username, role, scope_id, _label in accounts:
        if username not in existing:
            create_user(
                session=session, username=username, password=demo_password(username), role=role, scope_id=scope_id
            )
    session.flush()
    return accounts
