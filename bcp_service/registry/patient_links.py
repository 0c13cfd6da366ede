"""What a patient may be linked to, on every path (API, pages, CSV import): issues 23 and 27.

- The wall: the municipality and every institution named lie in the caller's prefecture (admin aside).
  A row of another prefecture is refused with the words used for a row that does not exist.
- The hub (連携拠点) is an institution designated as a hub that covers the patient's municipality
  (directly or through a region it is designated for).
- The active institution is a medical institution or visiting-nurse station that the designation rule
  book lets hold the 積極的役割 designation (the prefecture's rules, or the national ones).

``PatientLinks`` reads what it needs once (for one patient, or for a whole import) and then checks
plain value dicts in memory.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlmodel import Session, col, select

from bcp_service.models import (
    Designation,
    HomeCareRegionMunicipality,
    HubMunicipality,
    Institution,
    Municipality,
    Prefecture,
)
from bcp_service.models.enums import DesignationKind, InstitutionKind
from bcp_service.registry.designation_rules import MEDICAL, load_rules

INSTITUTION_FIELDS = ("active_institution_id", "visiting_nurse_station_id", "hub_id", "backup_hospital_id")
CARE_KINDS = frozenset({*MEDICAL, InstitutionKind.visiting_nurse_station})
HUB_REFUSED = (
    "連携拠点には、この市町村を担当する指定済みの連携拠点を選んでください"
    " (hub_id must be a designated hub covering the municipality)"
)
ACTIVE_REFUSED = (
    "担当医療機関には、在宅医療を担える医療機関か訪問看護ステーションを選んでください"
    " (active_institution_id must be a medical institution or nurse station that may care at home)"
)


def no_such(field: str, value) -> str:
    """The words for a row that does not exist, used also for one behind the wall."""
    if field == "municipality_id":
        return f"{field}: id {value} は存在しません (no such municipality)"
    return f"{field}: id {value} は存在しません (no such institution)"


class PatientLinks:
    def __init__(self, session: Session, home: int | None, institution_ids: Iterable[int] | None = None) -> None:
        """``home``: the caller's prefecture (None: no wall); ``institution_ids`` None reads them all."""
        self.home = home
        self.municipalities: dict[int, tuple[int, str]] = {
            m: (p, code)
            for m, p, code in session.exec(
                select(Municipality.id, Municipality.prefecture_id, Prefecture.code).join(
                    Prefecture, Prefecture.id == Municipality.prefecture_id
                )
            )
        }
        query = select(Institution.id, Municipality.prefecture_id, Institution.kind, Institution.enhanced).join(
            Municipality, Municipality.id == Institution.municipality_id
        )
        wanted = None if institution_ids is None else sorted({i for i in institution_ids if i is not None})
        if wanted is not None:
            query = query.where(col(Institution.id).in_(wanted))
        self.institutions = {i: (p, str(k), bool(e)) for i, p, k, e in session.exec(query)} if wanted != [] else {}
        hubs = select(Designation.institution_id, Designation.region_id).where(Designation.kind == DesignationKind.hub)
        direct = select(HubMunicipality.institution_id, HubMunicipality.municipality_id)
        if wanted is not None:
            hubs = hubs.where(col(Designation.institution_id).in_(wanted))
            direct = direct.where(col(HubMunicipality.institution_id).in_(wanted))
        self.designated_hubs: set[int] = set()
        regions: dict[int, set[int]] = defaultdict(set)
        for hub_id, region_id in session.exec(hubs) if wanted != [] else ():
            self.designated_hubs.add(hub_id)
            regions[region_id].add(hub_id)
        self.covered: dict[int, set[int]] = defaultdict(set)
        self.direct: dict[int, set[int]] = defaultdict(set)
        for hub_id, municipality_id in session.exec(direct) if wanted != [] else ():
            self.covered[hub_id].add(municipality_id)
            self.direct[hub_id].add(municipality_id)
        if regions:
            for region_id, municipality_id in session.exec(
                select(HomeCareRegionMunicipality.region_id, HomeCareRegionMunicipality.municipality_id).where(
                    col(HomeCareRegionMunicipality.region_id).in_(sorted(regions))
                )
            ):
                for hub_id in regions[region_id]:
                    self.covered[hub_id].add(municipality_id)
        self.book = load_rules(session)

    def outside(self, field: str, value: int | None) -> bool:
        """True when the row is behind the wall (its existence is for the caller to check)."""
        if self.home is None or value is None:
            return False
        if field == "municipality_id":
            found = self.municipalities.get(value)
            return found is not None and found[0] != self.home
        institution = self.institutions.get(value)
        return institution is not None and institution[0] != self.home

    def wall_problems(self, values: dict, changed: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """Links (the ``changed`` ones; None: all) behind the wall. A cross-border link an admin made
        stays when someone else edits the patient's other fields."""
        fields = [f for f in ("municipality_id", *INSTITUTION_FIELDS) if changed is None or f in changed]
        return [
            (field, no_such(field, values.get(field))) for field in fields if self.outside(field, values.get(field))
        ]

    def rule_problems(self, values: dict, changed: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """The hub and active-institution rules, for the links ``changed`` touches (None: all)."""
        touched = set(INSTITUTION_FIELDS) | {"municipality_id"} if changed is None else set(changed)
        problems = []
        hub_id, municipality_id = values.get("hub_id"), values.get("municipality_id")
        if (
            hub_id is not None
            and touched & {"hub_id", "municipality_id"}
            and (hub_id not in self.designated_hubs or municipality_id not in self.covered.get(hub_id, ()))
        ):
            problems.append(("hub_id", HUB_REFUSED))
        active = values.get("active_institution_id")
        if active is not None and "active_institution_id" in touched and active in self.institutions:
            _, kind, enhanced = self.institutions[active]
            code = self.municipalities.get(municipality_id, (None, None))[1]
            may = kind in CARE_KINDS and (
                self.book.match(code, DesignationKind.active_institution, kind, enhanced) is not None
                or self.book.match(None, DesignationKind.active_institution, kind, enhanced) is not None
            )
            if not may:
                problems.append(("active_institution_id", ACTIVE_REFUSED))
        return problems

    def followed_hub(self, municipality_id: int | None, current: int | None) -> int | None:
        """The hub a patient who is not pinned gets (``registry.hub_follow``'s order: hubs covering the
        municipality directly, then through a region, by id); read for all hubs (``institution_ids`` None)."""
        candidates = sorted(
            (h for h in self.designated_hubs if municipality_id in self.covered.get(h, ())),
            key=lambda h: (municipality_id not in self.direct.get(h, ()), h),
        )
        if current is not None and current in candidates:
            return current
        return candidates[0] if candidates else None
