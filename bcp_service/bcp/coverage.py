"""Which providers have a plan: per home-care region and per hub, finished / final draft / drafts only / none.

A finished plan is the file the institution uploaded as its adopted plan (``bcp/plans.py``); it is
counted apart from drafts (issue 27.8), even a draft version marked final (確定), which remains the
service's draft of a plan rather than the plan the institution wrote.

The providers counted are those the draft templates are for: plain clinics, home-care support
clinics and hospitals, visiting-nurse stations, and every designated active institution.
Institution names are not personal data, so every role allowed here sees them except
``aggregate``, which by design sees counts only (the same tier as the public count map).
A hub sees the regions that overlap its area, counted over its own municipalities only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_
from sqlmodel import Session, col, select

from bcp_service.auth.principal import Principal, municipality_scope
from bcp_service.auth.roles import Role
from bcp_service.bcp.builder import PLAN_KIND_BY_INSTITUTION_KIND
from bcp_service.bcp.schemas import BcpCoverageReport, CoverageGroup, CoverageInstitution
from bcp_service.models import (
    BcpDraft,
    BcpPlan,
    Designation,
    HomeCareRegion,
    HomeCareRegionMunicipality,
    HubMunicipality,
    Institution,
    Municipality,
)
from bcp_service.models.base import utcnow
from bcp_service.models.bcp import DraftState
from bcp_service.models.enums import INSTITUTION_KIND_JA, DesignationKind

STALE_AFTER_DAYS = 365
PLANNED_KINDS = sorted(PLAN_KIND_BY_INSTITUTION_KIND)
STATUS_ORDER = {"none": 0, "draft": 1, "final": 2, "finished": 3}  # the lists show who lacks a plan first


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@dataclass
class _PlanState:
    latest_id: int | None = None
    latest_version: int = 0
    has_draft: bool = False
    finalised_at: datetime | None = None
    plan_id: int | None = None
    plan_version: int = 0
    finished_at: datetime | None = None


def _plan_states(session: Session, institution_ids) -> dict[int, _PlanState]:
    states: dict[int, _PlanState] = defaultdict(_PlanState)
    for plan_id, institution_id, version, uploaded_at in session.exec(
        select(BcpPlan.id, BcpPlan.institution_id, BcpPlan.version, BcpPlan.uploaded_at).where(
            col(BcpPlan.institution_id).in_(institution_ids)
        )
    ):
        plan = states[institution_id]
        if version > plan.plan_version:
            plan.plan_id, plan.plan_version, plan.finished_at = plan_id, version, _aware(uploaded_at)
    for draft_id, institution_id, version, state, finalised_at in session.exec(
        select(BcpDraft.id, BcpDraft.institution_id, BcpDraft.version, BcpDraft.state, BcpDraft.finalised_at).where(
            col(BcpDraft.institution_id).in_(institution_ids)
        )
    ):
        plan = states[institution_id]
        plan.has_draft = True
        if version > plan.latest_version:
            plan.latest_id, plan.latest_version = draft_id, version
        finalised_at = _aware(finalised_at)
        if state == DraftState.final and (plan.finalised_at is None or finalised_at > plan.finalised_at):
            plan.finalised_at = finalised_at
    return states


def _entry(institution: Institution, plan: _PlanState | None, stale_before: datetime) -> CoverageInstitution:
    if plan is None:
        status, stale = "none", False
    elif plan.finished_at is not None:
        status, stale = "finished", plan.finished_at < stale_before
    elif plan.finalised_at is not None:
        status, stale = "final", plan.finalised_at < stale_before
    else:
        status, stale = "draft", False
    return CoverageInstitution(
        id=institution.id,
        name=institution.name,
        kind=institution.kind,
        kind_ja=INSTITUTION_KIND_JA.get(institution.kind, institution.kind),
        status=status,
        stale=stale,
        latest_draft_id=plan.latest_id if plan else None,
        latest_version=plan.latest_version if plan else None,
        finalised_at=plan.finalised_at if plan else None,
        latest_plan_id=plan.plan_id if plan else None,
        plan_version=plan.plan_version or None if plan else None,
        finished_at=plan.finished_at if plan else None,
    )


def _group(group_id: int, name: str, members: list[CoverageInstitution], *, with_names: bool) -> CoverageGroup:
    members = sorted(members, key=lambda m: (STATUS_ORDER[m.status], not m.stale, m.name))
    return CoverageGroup(
        id=group_id,
        name=name,
        total=len(members),
        finished=sum(m.status == "finished" for m in members),
        final=sum(m.status == "final" for m in members),
        stale=sum(m.stale for m in members),
        draft_only=sum(m.status == "draft" for m in members),
        none=sum(m.status == "none" for m in members),
        institutions=members if with_names else None,
    )


def _hub_areas(session: Session) -> dict[int, set[int]]:
    """Municipalities each hub covers, directly or through the regions it is designated for."""
    areas: dict[int, set[int]] = defaultdict(set)
    for hub_id, municipality_id in session.exec(
        select(HubMunicipality.institution_id, HubMunicipality.municipality_id)
    ):
        areas[hub_id].add(municipality_id)
    for hub_id, municipality_id in session.exec(
        select(Designation.institution_id, HomeCareRegionMunicipality.municipality_id)
        .join(HomeCareRegionMunicipality, HomeCareRegionMunicipality.region_id == Designation.region_id)
        .where(Designation.kind == DesignationKind.hub)
    ):
        areas[hub_id].add(municipality_id)
    return areas


def compute_coverage(
    *, session: Session, principal: Principal, prefecture_id: int | None = None, now: datetime | None = None
) -> BcpCoverageReport:
    now = now or utcnow()
    stale_before = now - timedelta(days=STALE_AFTER_DAYS)
    municipalities = select(Municipality.id).where(*municipality_scope(principal))
    if prefecture_id is not None:
        municipalities = municipalities.where(Municipality.prefecture_id == prefecture_id)
    in_scope = set(session.exec(municipalities).all())

    active = select(Designation.institution_id).where(Designation.kind == DesignationKind.active_institution)
    institutions = session.exec(
        select(Institution).where(
            col(Institution.municipality_id).in_(municipalities),
            or_(col(Institution.kind).in_(PLANNED_KINDS), col(Institution.id).in_(active)),
        )
    ).all()
    plans = _plan_states(session, select(Institution.id).where(col(Institution.municipality_id).in_(municipalities)))
    entries = {i.id: _entry(i, plans.get(i.id), stale_before) for i in institutions}
    by_municipality: dict[int, list[CoverageInstitution]] = defaultdict(list)
    for institution in institutions:
        by_municipality[institution.municipality_id].append(entries[institution.id])
    with_names = principal.role != Role.aggregate

    region_members: dict[int, set[int]] = defaultdict(set)
    for region_id, municipality_id in session.exec(
        select(HomeCareRegionMunicipality.region_id, HomeCareRegionMunicipality.municipality_id).where(
            col(HomeCareRegionMunicipality.municipality_id).in_(municipalities)
        )
    ):
        region_members[region_id].add(municipality_id)
    regions = session.exec(
        select(HomeCareRegion).where(col(HomeCareRegion.id).in_(sorted(region_members))).order_by(HomeCareRegion.id)
    ).all()
    region_groups = [
        _group(
            r.id, r.name, [e for m in sorted(region_members[r.id]) for e in by_municipality[m]], with_names=with_names
        )
        for r in regions
    ]

    areas = {hub_id: area & in_scope for hub_id, area in _hub_areas(session).items()}
    if principal.role == Role.hub:
        areas = {hub_id: area for hub_id, area in areas.items() if hub_id == principal.scope_id}
    areas = {hub_id: area for hub_id, area in areas.items() if area}
    hub_names = dict(
        session.exec(select(Institution.id, Institution.name).where(col(Institution.id).in_(sorted(areas)))).all()
    )
    hub_groups = [
        _group(
            hub_id,
            hub_names.get(hub_id, f"拠点 {hub_id}"),
            [e for m in sorted(area) for e in by_municipality[m]],
            with_names=with_names,
        )
        for hub_id, area in sorted(areas.items(), key=lambda item: hub_names.get(item[0], ""))
    ]
    return BcpCoverageReport(
        generated_at=now, stale_after_days=STALE_AFTER_DAYS, regions=region_groups, hubs=hub_groups
    )
