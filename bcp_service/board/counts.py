"""Counts for a board view: read from the round's counters when the view is the whole round, else one
index-backed GROUP BY over the checks in the viewer's scope and filters (usually a small set).

Aggregate viewers get small cells hidden (``min_cell``), as in the rounds summary.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import Session, col, select

from bcp_service.auth.principal import Principal, hub_municipalities, patient_scope, prefecture_municipalities
from bcp_service.auth.roles import Role
from bcp_service.auth.suppression import Suppressed, suppress
from bcp_service.board.schemas import ANSWERED, NEEDING, AreaRow, BoardFilters, Counts
from bcp_service.models import (
    HomeCareRegion,
    HomeCareRegionMunicipality,
    Institution,
    Municipality,
    Patient,
    SafetyCheck,
)
from bcp_service.registry.patients import therapy_condition

UNKNOWN = "（不明）"
# Checks with no hub: neither the patient nor any hub covering the municipality names one.
NO_HUB = "（連携拠点なし）"


@dataclass(frozen=True)
class ViewSpec:
    """Who looks at which round through which filters: views with equal specs share one computation."""

    round_id: int
    role: Role
    scope_id: int | None
    user_id: int  # only nurses' scope depends on the account (patients assigned to them)
    filters: BoardFilters
    min_cell: int = 0

    @classmethod
    def of(cls, round_id: int, principal: Principal, filters: BoardFilters, min_cell: int) -> ViewSpec:
        if principal.role == Role.aggregate:
            # One view only (issue 23): suppression holds within a view, but a filtered view minus the
            # whole would give the small counts it hides. Its rows already split by area.
            filters = BoardFilters()
        return cls(
            round_id,
            principal.role,
            principal.scope_id,
            principal.user_id if principal.role == Role.nurse else 0,
            filters,
            min_cell if principal.role == Role.aggregate else 0,
        )

    @property
    def sees_identities(self) -> bool:
        return self.role != Role.aggregate

    def principal(self) -> Principal:
        return Principal(user_id=self.user_id, username="", role=self.role, scope_id=self.scope_id)

    def scope(self) -> list[ColumnElement[bool]]:
        # The aggregate role has no patient scope (patient_scope refuses it everything): it only ever gets counts.
        return [] if self.role in (Role.admin, Role.aggregate) else patient_scope(self.principal())

    def area_scope(self) -> list[ColumnElement[bool]] | None:
        """The same scope on the check's own area columns (copied when the round began), where the role's
        scope is an area: index-backed, no join. None for scopes that need the patient (institution, nurse)."""
        if self.role in (Role.admin, Role.aggregate):
            return []
        if self.role == Role.prefecture and self.scope_id is not None:
            return [col(SafetyCheck.municipality_id).in_(prefecture_municipalities(self.scope_id))]
        if self.role == Role.hub and self.scope_id is not None:
            return [
                or_(
                    SafetyCheck.hub_id == self.scope_id,
                    col(SafetyCheck.municipality_id).in_(hub_municipalities(self.scope_id)),
                )
            ]
        return None

    def conditions(self, *, counting: bool = False) -> list[ColumnElement[bool]]:
        """Conditions on SafetyCheck (and Patient, joined by the caller) for this view.

        Lists of people apply the patient scope (and the area scope, which lets the planner start
        from the area's index); counts of an area-scoped role use the area scope alone, without the join.
        """
        f = self.filters
        area = self.area_scope()
        scope = area if counting and area is not None else [*(area or []), *self.scope()]
        found: list[ColumnElement[bool]] = [SafetyCheck.round_id == self.round_id, *scope]
        if f.region_id is not None:
            found.append(SafetyCheck.region_id == f.region_id)
        if f.hub_id is not None:
            found.append(SafetyCheck.hub_id == f.hub_id)
        if f.risk_tier is not None:
            found.append(SafetyCheck.risk_tier == f.risk_tier)
        if f.therapy is not None:
            found.append(therapy_condition(f.therapy))
        return found


@dataclass
class AreaNames:
    regions: dict[str, str] = field(default_factory=dict)
    municipalities: dict[str, str] = field(default_factory=dict)
    municipality_region: dict[str, str] = field(default_factory=dict)
    hubs: dict[str, str] = field(default_factory=dict)

    def missing(self, regions: set[str], municipalities: set[str], hubs: set[str]) -> bool:
        return bool(
            regions - set(self.regions) - {""}
            or municipalities - set(self.municipalities) - {""}
            or hubs - set(self.hubs) - {""}
        )


def load_names(session: Session, regions: set[str], municipalities: set[str], hubs: set[str]) -> AreaNames:
    """Names of the areas a round touches: read once per watcher, again only when a new key appears."""

    def ids(keys: set[str]) -> list[int]:
        return [int(k) for k in keys if k]

    names = AreaNames()
    muni_ids = ids(municipalities)
    region_of = (
        select(HomeCareRegionMunicipality.municipality_id, func.min(HomeCareRegionMunicipality.region_id))
        .where(col(HomeCareRegionMunicipality.municipality_id).in_(muni_ids))
        .group_by(HomeCareRegionMunicipality.municipality_id)
    )
    names.municipality_region = {str(m): str(r) for m, r in session.exec(region_of).all()}
    region_ids = set(ids(regions)) | {int(r) for r in names.municipality_region.values()}
    names.regions = {
        str(i): n
        for i, n in session.exec(
            select(HomeCareRegion.id, HomeCareRegion.name).where(col(HomeCareRegion.id).in_(region_ids))
        ).all()
    }
    names.municipalities = {
        str(i): n
        for i, n in session.exec(
            select(Municipality.id, Municipality.name).where(col(Municipality.id).in_(muni_ids))
        ).all()
    }
    names.hubs = {
        str(i): n
        for i, n in session.exec(
            select(Institution.id, Institution.name).where(col(Institution.id).in_(ids(hubs)))
        ).all()
    }
    return names


def uses_counters(spec: ViewSpec, counters: dict, prefecture_municipalities: set[str] | None) -> bool:
    """True when the view is the whole round, so the counters answer it without touching checks."""
    if not spec.filters.empty:
        return False
    if spec.role in (Role.admin, Role.aggregate):
        return True
    if spec.role == Role.prefecture and prefecture_municipalities is not None:
        touched = {k for k in counters.get("municipality", {}) if k}
        return touched <= prefecture_municipalities
    return False


def prefecture_municipality_keys(session: Session, prefecture_id: int | None) -> set[str]:
    if prefecture_id is None:
        return set()
    return {
        str(i) for i in session.exec(select(Municipality.id).where(Municipality.prefecture_id == prefecture_id)).all()
    }


def scan_groups(session: Session, spec: ViewSpec) -> list[tuple[str, str, str, str, int]]:
    """(region, municipality, hub, state, count) over the checks of this view: one GROUP BY."""
    query = select(
        SafetyCheck.region_id, SafetyCheck.municipality_id, SafetyCheck.hub_id, SafetyCheck.state, func.count()
    ).select_from(SafetyCheck)
    if spec.area_scope() is None or spec.filters.therapy is not None:
        query = query.join(Patient, Patient.id == SafetyCheck.patient_id)
    query = query.where(*spec.conditions(counting=True)).group_by(
        SafetyCheck.region_id, SafetyCheck.municipality_id, SafetyCheck.hub_id, SafetyCheck.state
    )
    return [(_key(r), _key(m), _key(h), s, n) for r, m, h, s, n in session.exec(query).all()]


def groups_as_counters(groups: list[tuple[str, str, str, str, int]]) -> dict[str, dict[str, dict[str, int]]]:
    """The same shape as ``read_counters`` so both paths are summarised by one function."""
    result: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    for region, municipality, hub, state, n in groups:
        for dimension, key in (("all", ""), ("region", region), ("municipality", municipality), ("hub", hub)):
            result[dimension][key][state] += n
    return {d: {k: dict(v) for k, v in keys.items()} for d, keys in result.items()}


def summarise(counters: dict, names: AreaNames, min_cell: int) -> Counts:
    """The board's counts; ``min_cell`` > 0 hides small cells as ``auth.suppression`` says."""
    shown = suppress(counters, min_cell)
    by_state = shown.by_state()
    answered = shown.part_sum([s for s in by_state if s in ANSWERED])

    def rows(dimension: str, labels: dict[str, str]) -> list[AreaRow]:
        none = NO_HUB if dimension == "hub" else UNKNOWN
        found = [
            _row(shown, dimension, k, labels.get(k, none if k == "" else UNKNOWN)) for k in counters.get(dimension, {})
        ]
        return sorted(found, key=lambda r: (r.name in (UNKNOWN, NO_HUB), r.name, r.key))

    municipalities = rows("municipality", names.municipalities)
    for row in municipalities:
        row.region_key = names.municipality_region.get(row.key, "")
    return Counts(
        by_state=by_state,
        total=shown.total,
        answered=answered,
        regions=rows("region", names.regions),
        municipalities=municipalities,
        hubs=rows("hub", names.hubs),
        min_cell=min_cell,
    )


def _row(shown: Suppressed, dimension: str, key: str, name: str) -> AreaRow:
    total = shown.row_total(dimension, key)
    if total is None:
        return AreaRow(key=key, name=name, counts={}, total=None, answered=None, needing=None, suppressed=True)
    counts = shown.by_state(dimension, key)
    return AreaRow(
        key=key,
        name=name,
        counts={s: n for s, n in counts.items() if n != 0},
        total=total,
        answered=shown.part_sum([s for s in counts if s in ANSWERED], dimension, key),
        needing=shown.part_sum([s for s in counts if s in NEEDING], dimension, key),
    )


def _key(value: object) -> str:
    return "" if value is None else str(value)
