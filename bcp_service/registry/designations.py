"""Designations and hub coverage: the prefecture's decision, never the institution's own.

A hub's patient scope is computed from its ``hub_municipality`` and ``designation`` rows, so these
rows are changed only here, by ``admin`` or by a ``prefecture`` officer for an institution, regions
and municipalities all inside its own prefecture. Every change is audited with before and after.
Pages call the same functions as the API.
"""

from __future__ import annotations

from fastapi import Request
from sqlmodel import Session, col, select

from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.errors import FieldError, Forbidden, NotFound
from bcp_service.models import Designation, HomeCareRegion, HubMunicipality, Institution, Municipality
from bcp_service.models.enums import DesignationKind
from bcp_service.registry.changes import record_change
from bcp_service.registry.institutions import replace_designations, replace_hub_coverage
from bcp_service.registry.schemas import DesignationIn

DECIDERS = (Role.admin, Role.prefecture)
REFUSED = "指定と拠点の担当市町村は都道府県（または管理者）が専用の操作で変更します (designations and hub coverage are set by the prefecture)"


def may_decide(principal: Principal) -> bool:
    return principal.role in DECIDERS


def _in_prefecture(session: Session, prefecture_id: int, *, municipality_ids=(), region_ids=()) -> bool:
    if municipality_ids:
        found = session.exec(
            select(Municipality.prefecture_id).where(col(Municipality.id).in_(list(municipality_ids)))
        ).all()
        if any(p != prefecture_id for p in found):
            return False
    if region_ids:
        found = session.exec(
            select(HomeCareRegion.prefecture_id).where(col(HomeCareRegion.id).in_(list(region_ids)))
        ).all()
        if any(p != prefecture_id for p in found):
            return False
    return True


def ensure_may_decide(
    session: Session, principal: Principal, institution: Institution, *, municipality_ids=(), region_ids=()
) -> None:
    """403 unless the caller is admin, or a prefecture officer acting wholly inside its prefecture."""
    if principal.role == Role.admin:
        return
    if principal.role != Role.prefecture or principal.scope_id is None:
        raise Forbidden(REFUSED)
    own = principal.scope_id
    if not _in_prefecture(session, own, municipality_ids=[institution.municipality_id]):
        raise NotFound("施設が見つかりません (institution not found)")
    if not _in_prefecture(session, own, municipality_ids=municipality_ids, region_ids=region_ids):
        raise Forbidden(
            "担当外の都道府県の地域・市町村は指定できません (region or municipality outside your prefecture)"
        )


def current(session: Session, institution_id: int) -> dict:
    designations = session.exec(
        select(Designation.region_id, Designation.kind)
        .where(Designation.institution_id == institution_id)
        .order_by(Designation.region_id, Designation.kind)
    ).all()
    municipalities = session.exec(
        select(HubMunicipality.municipality_id)
        .where(HubMunicipality.institution_id == institution_id)
        .order_by(HubMunicipality.municipality_id)
    ).all()
    return {"designations": [[r, str(k)] for r, k in designations], "hub_municipality_ids": list(municipalities)}


def _audit_change(session, principal, request, institution_id, what, before, after) -> None:
    record_change(
        session,
        principal,
        request,
        action=f"institution.{what}",
        key="institution_id",
        row_id=institution_id,
        before=before,
        after=after,
    )


def _replace(
    session: Session,
    principal: Principal,
    institution: Institution,
    request: Request | None,
    what: str,
    key: str,
    replace,
    **inside,
) -> dict:
    ensure_may_decide(session, principal, institution, **inside)
    before = current(session, institution.id)[key]
    replace()
    session.flush()
    after = current(session, institution.id)
    _audit_change(session, principal, request, institution.id, what, before, after[key])
    return after


def set_designations(
    *,
    session: Session,
    principal: Principal,
    institution: Institution,
    designations: list[DesignationIn],
    request: Request | None = None,
) -> dict:
    return _replace(
        session,
        principal,
        institution,
        request,
        "designations",
        "designations",
        lambda: replace_designations(session, institution.id, designations),
        region_ids=[d.region_id for d in designations],
    )


def set_hub_municipalities(
    *,
    session: Session,
    principal: Principal,
    institution: Institution,
    municipality_ids: list[int],
    request: Request | None = None,
) -> dict:
    return _replace(
        session,
        principal,
        institution,
        request,
        "hub_municipalities",
        "hub_municipality_ids",
        lambda: replace_hub_coverage(session, institution.id, municipality_ids),
        municipality_ids=municipality_ids,
    )


# One designation at a time, for the institution page: the same rule, audit and kind checks as the
# whole-list routes above, through ``set_designations``.
DESIGNATORS = DECIDERS


def can_designate(principal: Principal, region: HomeCareRegion) -> bool:
    return principal.role == Role.admin or (
        principal.role == Role.prefecture and region.prefecture_id == principal.scope_id
    )


def _held(session: Session, institution_id: int) -> list[DesignationIn]:
    return [DesignationIn(region_id=r, kind=k) for r, k in current(session, institution_id)["designations"]]


def designate(
    *,
    session: Session,
    principal: Principal,
    institution: Institution,
    region_id: int,
    kind: DesignationKind,
    request: Request | None = None,
) -> dict:
    if session.get(HomeCareRegion, region_id) is None:
        raise FieldError("在宅医療圏を選んでください (no such region)", field="region_id")
    held = _held(session, institution.id)
    wanted = DesignationIn(region_id=region_id, kind=kind)
    if wanted in held:
        return current(session, institution.id)
    return set_designations(
        session=session, principal=principal, institution=institution, designations=[*held, wanted], request=request
    )


def withdraw(
    *,
    session: Session,
    principal: Principal,
    institution: Institution,
    designation_id: int,
    request: Request | None = None,
) -> dict:
    designation = session.get(Designation, designation_id)
    if designation is None or designation.institution_id != institution.id:
        raise NotFound("指定が見つかりません (designation not found)")
    remaining = [
        d
        for d in _held(session, institution.id)
        if (d.region_id, str(d.kind)) != (designation.region_id, str(designation.kind))
    ]
    return set_designations(
        session=session, principal=principal, institution=institution, designations=remaining, request=request
    )
