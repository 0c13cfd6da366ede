"""Coverage gaps (空白圏域): every home-care region needs an active institution and a hub."""

from __future__ import annotations

from collections import defaultdict

from sqlmodel import Session, select

from bcp_service.models import Designation, HomeCareRegion, HomeCareRegionMunicipality, Institution, Municipality
from bcp_service.models.enums import DesignationKind
from bcp_service.registry.schemas import CoverageGapRegion, CoverageGapReport


def find_coverage_gaps(*, session: Session, prefecture_id: int | None = None) -> CoverageGapReport:
    region_query = select(HomeCareRegion).order_by(HomeCareRegion.id)
    if prefecture_id is not None:
        region_query = region_query.where(HomeCareRegion.prefecture_id == prefecture_id)
    regions = session.exec(region_query).all()

    codes: dict[int, list[str]] = defaultdict(list)
    for region_id, code in session.exec(
        select(HomeCareRegionMunicipality.region_id, Municipality.code)
        .join(Municipality, Municipality.id == HomeCareRegionMunicipality.municipality_id)
        .order_by(Municipality.code)
    ):
        codes[region_id].append(code)

    holders: dict[tuple[int, str], list[str]] = defaultdict(list)
    for region_id, kind, name in session.exec(
        select(Designation.region_id, Designation.kind, Institution.name)
        .join(Institution, Institution.id == Designation.institution_id)
        .order_by(Institution.name)
    ):
        holders[(region_id, kind)].append(name)

    report = []
    for region in regions:
        active = holders[(region.id, DesignationKind.active_institution)]
        hubs = holders[(region.id, DesignationKind.hub)]
        missing = [kind for kind, names in ((DesignationKind.active_institution, active), (DesignationKind.hub, hubs)) if not names]
        report.append(
            CoverageGapRegion(
                region_id=region.id, region_name=region.name, prefecture_id=region.prefecture_id,
                municipality_codes=codes[region.id], active_institutions=active, hubs=hubs, missing=missing,
            )
        )
    return CoverageGapReport(regions=report, gaps=[r for r in report if r.missing])
