"""Helpers shared by every HTML page: rendering with the caller, and the home-page links."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.responses import HTMLResponse

from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.templating import render

ROLE_LABELS = {
    Role.admin: "管理者", Role.prefecture: "都道府県", Role.hub: "連携拠点", Role.institution: "医療機関",
    Role.nurse: "訪問看護師", Role.aggregate: "集計閲覧", Role.system: "外部連携",
}


@dataclass(frozen=True)
class HomeLink:
    href: str
    label: str
    note: str
    roles: frozenset[Role]


HOME_LINKS: list[HomeLink] = []


def register_home_link(href: str, label: str, note: str, roles: tuple[Role, ...]) -> None:
    """Each domain adds its pages to the home page here (called at import of its routes)."""
    if all(link.href != href for link in HOME_LINKS):
        HOME_LINKS.append(HomeLink(href, label, note, frozenset(roles)))


def page(template: str, principal: Principal | None, status_code: int = 200, **context) -> HTMLResponse:
    html = render(
        template, principal=principal, role_label=ROLE_LABELS.get(principal.role, "") if principal else "", **context
    )
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
