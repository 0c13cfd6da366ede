"""The prefecture is a wall: every write that names an area, an institution, a patient or a nurse
stays inside the caller's prefecture (issue 23).

``home_prefecture`` says which prefecture a principal belongs to (``None``: no wall, i.e. admin and
the unscoped integration account); ``inside`` says whether every named row lies in it. A row that does
not exist counts as outside, so a refusal never tells what exists elsewhere: callers answer "not found"
(or one fixed 422) for both.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import false
from sqlmodel import Session, col, select

from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.models import HomeCareRegion, Institution, Municipality, Patient, User

NO_PREFECTURE = -1  # a scoped principal whose scope row is gone: inside nothing


def institution_prefecture(session: Session, institution_id: int | None) -> int | None:
    if institution_id is None:
        return None
    return session.exec(
        select(Municipality.prefecture_id)
        .join(Institution, Institution.municipality_id == Municipality.id)
        .where(Institution.id == institution_id)
    ).first()


def home_prefecture(session: Session, principal: Principal) -> int | None:
    """The caller's prefecture id; ``None`` for admin and for a system account without a scope."""
    if principal.role == Role.admin:
        return None
    if principal.role == Role.system and principal.scope_id is None:
        return None
    if principal.role in (Role.prefecture, Role.system):
        return principal.scope_id if principal.scope_id is not None else NO_PREFECTURE
    found = institution_prefecture(session, principal.scope_id)
    return found if found is not None else NO_PREFECTURE


def _all_in(session: Session, column, key, ids: Iterable, prefecture_id: int) -> bool:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return True
    found = dict(session.exec(select(key, column).where(col(key).in_(sorted(wanted)))).all())
    return set(found) == wanted and all(p == prefecture_id for p in found.values())


def inside(
    session: Session,
    prefecture_id: int,
    *,
    municipality_ids: Iterable[int | None] = (),
    municipality_codes: Iterable[str | None] = (),
    region_ids: Iterable[int | None] = (),
    institution_ids: Iterable[int | None] = (),
    patient_ids: Iterable[int | None] = (),
    nurse_user_ids: Iterable[int | None] = (),
    prefecture_ids: Iterable[int | None] = (),
) -> bool:
    """True when every named row exists and lies in ``prefecture_id`` (a nurse: by its station)."""
    if any(p is not None and p != prefecture_id for p in prefecture_ids):
        return False
    institution_ids = list(institution_ids)
    nurses = {i for i in nurse_user_ids if i is not None}
    if nurses:
        stations = dict(
            session.exec(
                select(User.id, User.scope_id).where(col(User.id).in_(sorted(nurses)), User.role == Role.nurse)
            ).all()
        )
        if set(stations) != nurses or None in stations.values():
            return False
        institution_ids += list(stations.values())
    patients = {i for i in patient_ids if i is not None}
    if patients:
        homes = dict(
            session.exec(select(Patient.id, Patient.municipality_id).where(col(Patient.id).in_(sorted(patients)))).all()
        )
        if set(homes) != patients:
            return False
        municipality_ids = [*municipality_ids, *homes.values()]
    in_institution = select(Institution.id, Municipality.prefecture_id).join(
        Municipality, Municipality.id == Institution.municipality_id
    )
    wanted_institutions = {i for i in institution_ids if i is not None}
    if wanted_institutions:
        found = dict(session.exec(in_institution.where(col(Institution.id).in_(sorted(wanted_institutions)))).all())
        if set(found) != wanted_institutions or any(p != prefecture_id for p in found.values()):
            return False
    return (
        _all_in(session, Municipality.prefecture_id, Municipality.id, municipality_ids, prefecture_id)
        and _all_in(session, Municipality.prefecture_id, Municipality.code, municipality_codes, prefecture_id)
        and _all_in(session, HomeCareRegion.prefecture_id, HomeCareRegion.id, region_ids, prefecture_id)
    )


def allowed(session: Session, principal: Principal, **named) -> bool:
    """``inside`` the caller's own prefecture; always true for admin (and the unscoped system account)."""
    home = home_prefecture(session, principal)
    return home is None or inside(session, home, **named)


def municipality_condition(session: Session, principal: Principal):
    """A condition on ``Municipality`` rows inside the caller's prefecture (``None``: no limit)."""
    home = home_prefecture(session, principal)
    if home is None:
        return None
    return false() if home == NO_PREFECTURE else Municipality.prefecture_id == home
