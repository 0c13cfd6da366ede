"""The "who to reach" part of the round and schedule forms: form fields into a RoundTarget.

Pages post plain form fields (checkboxes, selects). Errors come back as Japanese messages keyed by
field name, so the page shows each next to its field and keeps what was chosen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlmodel import Session, col, select

from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.labels import THERAPY_LABELS, TIER_LABELS
from bcp_service.models import Designation, HomeCareRegion, Prefecture
from bcp_service.models.enums import DesignationKind
from bcp_service.rounds.targets import RoundTarget

REASON_LABELS = {"manual": "随時の安否確認", "disaster": "災害時の安否確認"}
AREA_ERROR = "対象の地域を選んでください（県全体、または在宅医療圏を1つ以上）"


@dataclass
class TargetForm:
    """What the person chose, as strings, to render back into the form."""

    prefecture_id: str = ""
    region_ids: list[str] = field(default_factory=list)
    therapies: list[str] = field(default_factory=list)
    risk_tiers: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def to_target(self, choices: TargetChoices) -> RoundTarget | None:
        """The target, or None with ``errors`` filled in. Only offered areas are accepted."""
        offered_regions = {str(r.id) for r in choices.regions}
        offered_prefectures = {str(p.id) for p in choices.prefectures}
        if any(r not in offered_regions for r in self.region_ids):
            self.errors["region_id"] = "選べない在宅医療圏が含まれています"
        if self.prefecture_id and self.prefecture_id not in offered_prefectures:
            self.errors["region_id"] = "県全体の安否確認は都道府県と管理者のみ開始できます"
        if any(t not in THERAPY_LABELS for t in self.therapies):
            self.errors["therapy"] = "医療機器の種類が正しくありません"
        if any(t not in TIER_LABELS for t in self.risk_tiers):
            self.errors["risk_tier"] = "リスク区分が正しくありません"
        if any(key in self.errors for key in ("region_id", "therapy", "risk_tier")):
            return None
        values: dict = {
            "region_ids": [int(r) for r in self.region_ids],
            "therapies": self.therapies,
            "risk_tiers": self.risk_tiers,
        }
        if self.prefecture_id:
            values = {**values, "prefecture_id": int(self.prefecture_id), "region_ids": []}
        try:
            return RoundTarget.model_validate(values)
        except ValidationError:
            self.errors["region_id"] = AREA_ERROR
            return None


@dataclass(frozen=True)
class TargetChoices:
    prefectures: list[Prefecture]
    regions: list[HomeCareRegion]


def target_choices(*, session: Session, principal: Principal) -> TargetChoices:
    """Areas the person may pick: a prefecture officer their prefecture and its regions, a hub the regions
    it is designated for, an admin everything. The starter's scope still limits whom a round reaches."""
    sid = principal.scope_id
    if principal.role == Role.admin:
        prefectures = list(session.exec(select(Prefecture).order_by(Prefecture.id)).all())
        regions = session.exec(select(HomeCareRegion).order_by(HomeCareRegion.id)).all()
    elif principal.role == Role.prefecture:
        prefectures = list(session.exec(select(Prefecture).where(Prefecture.id == sid)).all())
        regions = session.exec(
            select(HomeCareRegion).where(HomeCareRegion.prefecture_id == sid).order_by(HomeCareRegion.id)
        ).all()
    else:
        prefectures = []
        designated = select(Designation.region_id).where(
            Designation.institution_id == sid, Designation.kind == DesignationKind.hub
        )
        regions = session.exec(
            select(HomeCareRegion).where(col(HomeCareRegion.id).in_(designated)).order_by(HomeCareRegion.id)
        ).all()
    return TargetChoices(prefectures=prefectures, regions=list(regions))


def describe_target(target: dict, *, region_names: dict[int, str], prefecture_names: dict[int, str]) -> str:
    """A stored target (RoundTarget as JSON) in words, for lists."""
    parts = []
    if target.get("prefecture_id") is not None:
        parts.append(f"{prefecture_names.get(target['prefecture_id'], '県')}全体")
    if target.get("region_ids"):
        parts.append("・".join(region_names.get(r, f"圏域{r}") for r in target["region_ids"]))
    for key, word in (
        ("municipality_ids", "市町村"),
        ("hub_ids", "拠点"),
        ("institution_ids", "施設"),
        ("patient_ids", "患者"),
    ):
        if target.get(key):
            parts.append(f"{word}{len(target[key])}件")
    if target.get("municipality_codes"):
        parts.append(f"市町村{len(target['municipality_codes'])}件")
    who = "、".join(parts) or "—"
    narrowing = [THERAPY_LABELS.get(t, t) for t in target.get("therapies", [])]
    narrowing += [f"リスク{TIER_LABELS.get(t, t)}" for t in target.get("risk_tiers", [])]
    return who + (f"（{'・'.join(narrowing)}）" if narrowing else "")
