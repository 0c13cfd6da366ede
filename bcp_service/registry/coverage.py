"""Coverage gaps (空白圏域): every home-care region needs an active institution and a hub.

Only holders whose designation rule ``counts`` in the region's prefecture fill the need (Chiba:
enhanced home-care support hospitals; registry.designation_rules). Municipalities that no hub
covers are reported too, also inside a region that has a hub.
"""

from __future__ import annotations

from collections import defaultdict

from sqlmodel import Session, select

from bcp_service.models import (
    Designation,
    HomeCareRegion,
    HomeCareRegionMunicipality,
    HubMunicipality,
    Institution,
    Municipality,
    Prefecture,
)
from bcp_service.models.enums import DesignationKind
from bcp_service.registry.designation_rules import load_rules
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

    pref_codes = dict(session.exec(select(Prefecture.id, Prefecture.code)).all())
    book = load_rules(session, set(pref_codes.values()))
    region_pref = {region.id: pref_codes.get(region.prefecture_id) for region in regions}
    holders: dict[tuple[int, str], list[str]] = defaultdict(list)
    not_counted: dict[int, list[str]] = defaultdict(list)
    for region_id, kind, name, inst_kind, enhanced in session.exec(
        select(Designation.region_id, Designation.kind, Institution.name, Institution.kind, Institution.enhanced)
        .join(Institution, Institution.id == Designation.institution_id)
        .order_by(Institution.name)
    ):
        if region_id not in region_pref:
            continue
        if book.counts(region_pref[region_id], kind, inst_kind, bool(enhanced)):
            holders[(region_id, kind)].append(name)
        else:
            not_counted[region_id].append(name)

    covered = set(session.exec(select(HubMunicipality.municipality_id).distinct()).all())
    uncovered: dict[int, list[str]] = defaultdict(list)
    for region_id, code, name, municipality_id in session.exec(
        select(HomeCareRegionMunicipality.region_id, Municipality.code, Municipality.name, Municipality.id)
        .join(Municipality, Municipality.id == HomeCareRegionMunicipality.municipality_id)
        .order_by(Municipality.code)
    ):
        if municipality_id not in covered:
            uncovered[region_id].append(f"{code} {name}")

    report = []
    for region in regions:
        active = holders[(region.id, DesignationKind.active_institution)]
        hubs = holders[(region.id, DesignationKind.hub)]
        missing = [
            kind
            for kind, names in ((DesignationKind.active_institution, active), (DesignationKind.hub, hubs))
            if not names
        ]
        report.append(
            CoverageGapRegion(
                region_id=region.id,
                region_name=region.name,
                prefecture_id=region.prefecture_id,
                municipality_codes=codes[region.id],
                active_institutions=active,
                hubs=hubs,
                missing=missing,
                not_counted=not_counted[region.id],
                municipalities_without_hub=uncovered[region.id],
            )
        )
    return CoverageGapReport(
        regions=report,
        gaps=[r for r in report if r.missing],
        municipalities_without_hub=[m for r in report for m in r.municipalities_without_hub],
    )
