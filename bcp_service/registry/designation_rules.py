"""Designation rules per prefecture: who may hold a designation, and who counts toward a region's need.

The rules are rows of ``designation_rule`` (migration 0009 writes the defaults below); a prefecture
with rows of its own for a designation uses only those, others use the national rows
(``prefecture_code`` NULL). Every designation write is checked (``check_designation``: 422 naming
the rule); the coverage-gap report counts only holders whose matching rule ``counts``.

National defaults: a hub may be a hospital, clinic, visiting-nurse station, medical association,
public health centre or municipality (MHLW); an active institution is a hospital or clinic, a
visiting-nurse station or a pharmacy. Never a fire agency, an equipment supplier or a care office.

Chiba (its 2025 working-group material): active institutions are the enhanced home-care support
hospitals (機能強化型在支病). Other home-care support hospitals and clinics may be designated to
share the work, but a region whose only active institutions are those is still a coverage gap.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, or_, select

from bcp_service.errors import FieldError
from bcp_service.models.enums import INSTITUTION_KIND_JA, DesignationKind, InstitutionKind
from bcp_service.models.institution import DesignationRule

K = InstitutionKind
MEDICAL = (
    K.home_care_support_clinic,
    K.home_care_support_hospital,
    K.clinic,
    K.hospital,
    K.clinic_with_beds,
    K.backup_hospital,
)
HUB_KINDS = (*MEDICAL, K.visiting_nurse_station, K.medical_association, K.public_health_center, K.municipal_office)
ACTIVE_KINDS = (*MEDICAL, K.visiting_nurse_station, K.pharmacy)
NATIONAL_SOURCE = "厚生労働省 在宅医療の体制構築に係る指針"
CHIBA_SOURCE = "千葉県 在宅医療WG資料 (2025): 積極的医療機関は機能強化型在宅療養支援病院"
CHIBA = "12"
DESIGNATION_JA = {DesignationKind.active_institution: "積極的役割を担う医療機関", DesignationKind.hub: "連携拠点"}


@dataclass(frozen=True)
class Rule:
    prefecture_code: str | None
    designation: str
    institution_kind: str
    enhanced_only: bool = False
    counts: bool = True
    source: str | None = None


DEFAULT_RULES: tuple[Rule, ...] = (
    *(Rule(None, DesignationKind.hub, k, source=NATIONAL_SOURCE) for k in HUB_KINDS),
    *(Rule(None, DesignationKind.active_institution, k, source=NATIONAL_SOURCE) for k in ACTIVE_KINDS),
    Rule(CHIBA, DesignationKind.active_institution, K.home_care_support_hospital, True, True, CHIBA_SOURCE),
    Rule(CHIBA, DesignationKind.active_institution, K.home_care_support_hospital, False, False, CHIBA_SOURCE),
    Rule(CHIBA, DesignationKind.active_institution, K.home_care_support_clinic, False, False, CHIBA_SOURCE),
)


def rows_for_migration() -> list[dict]:
    return [
        {
            "prefecture_code": r.prefecture_code,
            "designation": str(r.designation),
            "institution_kind": str(r.institution_kind),
            "enhanced_only": r.enhanced_only,
            "counts": r.counts,
            "source": r.source,
        }
        for r in DEFAULT_RULES
    ]


class RuleBook:
    """The rules of one or more prefectures, read once."""

    def __init__(self, rules: list[DesignationRule]):
        self._by: dict[tuple[str | None, str], list[DesignationRule]] = {}
        for rule in rules:
            self._by.setdefault((rule.prefecture_code, rule.designation), []).append(rule)

    def rules(self, prefecture_code: str | None, designation: str) -> tuple[str | None, list[DesignationRule]]:
        own = self._by.get((prefecture_code, designation))
        if own:
            return prefecture_code, own
        return None, self._by.get((None, designation), [])

    def match(self, prefecture_code: str | None, designation: str, kind: str, enhanced: bool) -> DesignationRule | None:
        """The rule that lets this institution hold the designation (one that counts, if any)."""
        _, rules = self.rules(prefecture_code, designation)
        fitting = [r for r in rules if r.institution_kind == kind and (enhanced or not r.enhanced_only)]
        fitting.sort(key=lambda r: not r.counts)
        return fitting[0] if fitting else None

    def counts(self, prefecture_code: str | None, designation: str, kind: str, enhanced: bool) -> bool:
        rule = self.match(prefecture_code, designation, kind, enhanced)
        return rule is not None and rule.counts


def load_rules(session: Session, prefecture_codes: set[str | None] | None = None) -> RuleBook:
    """The rules of these prefectures (and the national ones). An empty table (a database emptied
    by hand) falls back to the built-in defaults rather than refusing every designation."""
    query = select(DesignationRule)
    if prefecture_codes is not None:
        codes = sorted(c for c in prefecture_codes if c)
        query = query.where(
            or_(col(DesignationRule.prefecture_code).is_(None), col(DesignationRule.prefecture_code).in_(codes))
        )
    rules = list(session.exec(query).all())
    if not rules and session.exec(select(DesignationRule.id).limit(1)).first() is None:
        rules = [DesignationRule(**row) for row in rows_for_migration()]
    return RuleBook(rules)


def describe(book: RuleBook, prefecture_code: str | None, designation: str) -> str:
    """The rule in words, for a 422: which kinds this prefecture lets hold the designation."""
    owner, rules = book.rules(prefecture_code, designation)
    kinds = []
    for r in rules:
        name = INSTITUTION_KIND_JA.get(r.institution_kind, r.institution_kind)
        kinds.append(("機能強化型" if r.enhanced_only else "") + name)
    where = f"都道府県コード{owner}" if owner else "全国既定"
    return f"designation_rule[{where}:{designation}] = {'・'.join(dict.fromkeys(kinds)) or 'なし'}"


def check_designation(
    book: RuleBook, *, prefecture_code: str | None, designation: str, kind: str, enhanced: bool, field: str
) -> None:
    if book.match(prefecture_code, designation, kind, enhanced) is None:
        kind_ja = INSTITUTION_KIND_JA.get(kind, kind)
        raise FieldError(
            f"{kind_ja}は{DESIGNATION_JA.get(designation, designation)}に指定できません"
            f" ({kind} may not hold {designation}; {describe(book, prefecture_code, designation)})",
            field=field,
        )
