"""Roles and what their scope id means."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    admin = "admin"  # everything
    prefecture = "prefecture"  # one prefecture (scope: prefecture id)
    hub = "hub"  # the municipalities and regions its hub covers (scope: hub institution id)
    institution = "institution"  # patients linked to that institution (scope: institution id)
    nurse = "nurse"  # patients of their station, plus those assigned to them in a round (scope: station id)
    aggregate = "aggregate"  # counts by area only, never an identity
    system = "system"  # integrations: outside-event triggers; no personal data


# Japanese names of the roles: the account pages and every page's header.
ROLE_LABELS = {
    Role.admin: "管理者",
    Role.prefecture: "都道府県",
    Role.hub: "連携拠点",
    Role.institution: "医療機関",
    Role.nurse: "訪問看護師",
    Role.aggregate: "集計閲覧",
    Role.system: "外部連携",
}
SCOPED_ROLES = {Role.prefecture, Role.hub, Role.institution, Role.nurse}
IDENTIFIED_ROLES = {Role.admin, Role.prefecture, Role.hub, Role.institution, Role.nurse}
