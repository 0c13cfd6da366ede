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


SCOPED_ROLES = {Role.prefecture, Role.hub, Role.institution, Role.nurse}
IDENTIFIED_ROLES = {Role.admin, Role.prefecture, Role.hub, Role.institution, Role.nurse}
