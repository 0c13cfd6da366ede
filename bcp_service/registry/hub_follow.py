"""A patient's hub follows the map (issue 27.2).

The hub (連携拠点) of a patient is, unless it was pinned by hand (``patient.hub_pinned``), a designated
hub covering the patient's municipality: the one it has if it still covers it, else the first of
``covering_hubs`` (hubs covering the municipality directly before those covering it through a region,
then by id), else none. It follows when the patient moves municipality (``registry/patients.py``) and
when a region is redrawn (``registry/region_changes.py``: ``follow_municipalities``, audited).

``sight`` says who sees a patient (the same rules as ``auth.principal.patient_scope``): the prefecture
of the municipality, every hub covering the municipality and the patient's own hub, and the linked
institutions. ``sight_change`` is what the patient page shows before a save.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy import update
from sqlmodel import Session, col, select

from bcp_service.audit.changes import diff
from bcp_service.audit.service import record as audit
from bcp_service.auth.principal import Principal
from bcp_service.models import (
    Designation,
    HomeCareRegionMunicipality,
    HubMunicipality,
    Institution,
    Municipality,
    Patient,
    Prefecture,
)
from bcp_service.models.enums import DesignationKind

LINKED = ("active_institution_id", "visiting_nurse_station_id", "backup_hospital_id")


def covering_hubs(session: Session, municipality_ids: Iterable[int]) -> dict[int, list[int]]:
    """For each municipality, the designated hubs covering it, in order of preference (the rule of
    ``registry.patient_links``: a hub designation somewhere, and the municipality covered directly or
    through a region it is a hub for)."""
    wanted = sorted(set(municipality_ids))
    found: dict[int, list[int]] = {m: [] for m in wanted}
    if not wanted:
        return found
    designated = select(Designation.institution_id).where(Designation.kind == DesignationKind.hub)
    direct = session.exec(
        select(HubMunicipality.municipality_id, HubMunicipality.institution_id)
        .where(col(HubMunicipality.municipality_id).in_(wanted), col(HubMunicipality.institution_id).in_(designated))
        .order_by(HubMunicipality.institution_id)
    ).all()
    via_region = session.exec(
        select(HomeCareRegionMunicipality.municipality_id, Designation.institution_id)
        .join(Designation, Designation.region_id == HomeCareRegionMunicipality.region_id)
        .where(col(HomeCareRegionMunicipality.municipality_id).in_(wanted), Designation.kind == DesignationKind.hub)
        .order_by(Designation.institution_id)
    ).all()
    for municipality_id, hub_id in [*direct, *via_region]:
        if hub_id not in found[municipality_id]:
            found[municipality_id].append(hub_id)
    return found


def followed_hub(candidates: list[int], current: int | None) -> int | None:
    """The hub a patient who is not pinned should have: the current one if it still covers, else the first."""
    if current is not None and current in candidates:
        return current
    return candidates[0] if candidates else None


def follow_patient(session: Session, patient: Patient) -> None:
    """Set the hub of one patient (not pinned) to the one its municipality gives."""
    if patient.hub_pinned:
        return
    candidates = covering_hubs(session, [patient.municipality_id])[patient.municipality_id]
    patient.hub_id = followed_hub(candidates, patient.hub_id)


@dataclass
class FollowGroup:
    municipality_id: int
    from_hub: int | None
    to_hub: int | None
    patient_ids: list[int] = field(default_factory=list)


def follow_municipalities(
    session: Session,
    principal: Principal | None,
    request: Request | None,
    municipality_ids: Iterable[int],
    *,
    reason: str,
) -> list[FollowGroup]:
    """After a redraw: every patient (not pinned) of these municipalities gets the hub the map now gives.
    One UPDATE and one audit row per (municipality, old hub, new hub); the old hub loses sight at once
    (scope is computed from these rows at every read)."""
    wanted = sorted(set(municipality_ids))
    candidates = covering_hubs(session, wanted)
    groups: dict[tuple[int, int | None], FollowGroup] = {}
    if not wanted:
        return []
    rows = session.exec(
        select(Patient.id, Patient.municipality_id, Patient.hub_id)
        .where(col(Patient.municipality_id).in_(wanted), col(Patient.hub_pinned).is_(False))
        .order_by(Patient.id)
    ).all()
    for patient_id, municipality_id, hub_id in rows:
        target = followed_hub(candidates[municipality_id], hub_id)
        if target == hub_id:
            continue
        group = groups.setdefault((municipality_id, hub_id), FollowGroup(municipality_id, hub_id, target))
        group.patient_ids.append(patient_id)
    for group in groups.values():
        for start in range(0, len(group.patient_ids), 1000):
            part = group.patient_ids[start : start + 1000]
            session.execute(update(Patient).where(col(Patient.id).in_(part)).values(hub_id=group.to_hub))
        audit(
            session=session,
            principal=principal,
            action="patient.hub_follow",
            patient_ids=group.patient_ids,
            request=request,
            resource=None if request else "patients",
            detail=f"{reason}: municipality {group.municipality_id} hub {group.from_hub} -> {group.to_hub}",
            changes=diff("patient", {"hub_id": group.from_hub}, {"hub_id": group.to_hub}),
        )
    session.flush()
    session.expire_all()
    return list(groups.values())


@dataclass(frozen=True)
class Sight:
    prefecture: str | None
    hubs: frozenset[int]
    institutions: frozenset[int]


def sight(session: Session, municipality_id: int | None, hub_id: int | None, links: dict) -> Sight:
    """Who sees a patient with this municipality, hub and links (``links``: the LINKED fields)."""
    prefecture = None
    hubs: set[int] = set()
    if municipality_id is not None:
        prefecture = session.exec(
            select(Prefecture.name)
            .join(Municipality, Municipality.prefecture_id == Prefecture.id)
            .where(Municipality.id == municipality_id)
        ).first()
        hubs |= set(
            session.exec(
                select(HubMunicipality.institution_id).where(HubMunicipality.municipality_id == municipality_id)
            ).all()
        )
        hubs |= set(
            session.exec(
                select(Designation.institution_id)
                .join(HomeCareRegionMunicipality, HomeCareRegionMunicipality.region_id == Designation.region_id)
                .where(
                    HomeCareRegionMunicipality.municipality_id == municipality_id,
                    Designation.kind == DesignationKind.hub,
                )
            ).all()
        )
    if hub_id is not None:
        hubs.add(hub_id)
    institutions = {links.get(f) for f in LINKED} - {None}
    return Sight(prefecture, frozenset(hubs), frozenset(institutions))


@dataclass
class SightChange:
    lose: list[str]
    gain: list[str]

    @property
    def empty(self) -> bool:
        return not self.lose and not self.gain


def sight_change(session: Session, before: Sight, after: Sight) -> SightChange:
    """Names of those who lose and who gain sight of the patient (hubs, institutions, prefecture)."""
    ids = before.hubs | after.hubs | before.institutions | after.institutions
    names = (
        dict(session.exec(select(Institution.id, Institution.name).where(col(Institution.id).in_(sorted(ids)))).all())
        if ids
        else {}
    )

    def listed(hubs: Iterable[int], institutions: Iterable[int], prefecture: str | None) -> list[str]:
        out = [f"{names.get(i, f'id {i}')}（連携拠点）" for i in sorted(hubs)]
        out += [f"{names.get(i, f'id {i}')}（担当施設）" for i in sorted(institutions)]
        if prefecture:
            out.append(f"{prefecture}（都道府県）")
        return out

    lose = listed(
        before.hubs - after.hubs,
        before.institutions - after.institutions,
        before.prefecture if before.prefecture != after.prefecture else None,
    )
    gain = listed(
        after.hubs - before.hubs,
        after.institutions - before.institutions,
        after.prefecture if before.prefecture != after.prefecture else None,
    )
    return SightChange(lose, gain)


def hub_names(session: Session, hub_ids: Iterable[int | None]) -> dict[int, str]:
    ids = sorted({i for i in hub_ids if i is not None})
    if not ids:
        return {}
    return dict(session.exec(select(Institution.id, Institution.name).where(col(Institution.id).in_(ids))).all())


def describe_groups(session: Session, groups: list[FollowGroup]) -> str:
    """The outcome in Japanese: how many patients' hub followed, from which hub to which."""
    if not groups:
        return "連携拠点が変わった患者はいません。"
    names = hub_names(session, [g.from_hub for g in groups] + [g.to_hub for g in groups])
    towns = dict(
        session.exec(
            select(Municipality.id, Municipality.name).where(
                col(Municipality.id).in_(sorted({g.municipality_id for g in groups}))
            )
        ).all()
    )
    per: dict[tuple, int] = defaultdict(int)
    for g in groups:
        per[
            (
                towns.get(g.municipality_id, ""),
                names.get(g.from_hub, "なし") if g.from_hub else "なし",
                names.get(g.to_hub, "なし") if g.to_hub else "なし（空白）",
            )
        ] += len(g.patient_ids)
    return "連携拠点が地図に合わせて変わりました: " + "、".join(
        f"{town} {old}→{new} {n}名" for (town, old, new), n in sorted(per.items())
    )
