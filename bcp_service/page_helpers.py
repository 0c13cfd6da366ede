"""Helpers shared by every HTML page: rendering with the caller, and the home-page links.

Below every domain (each domain's ``pages.py`` uses them) and above only ``templating``: the caller
is anything with a ``role_label`` (``auth.principal.Principal``), so this module needs no domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from fastapi.responses import HTMLResponse

from bcp_service.templating import render
from bcp_service.typed_input import japanese_only


class Viewer(Protocol):
    @property
    def role_label(self) -> str: ...


@dataclass(frozen=True)
class HomeLink:
    href: str
    label: str
    note: str
    roles: frozenset[str]


HOME_LINKS: list[HomeLink] = []


def register_home_link(href: str, label: str, note: str, roles: tuple[str, ...]) -> None:
    """Each domain adds its pages to the home page here (called at import of its routes)."""
    if all(link.href != href for link in HOME_LINKS):
        HOME_LINKS.append(HomeLink(href, label, note, frozenset(roles)))


# Context entries that carry error text: shown without the English the services add in brackets (issue 27.5).
ERROR_KEYS = ("error", "errors", "status_error", "contact_errors")


def _japanese(value):
    if isinstance(value, str):
        return japanese_only(value)
    if isinstance(value, dict):
        return {key: _japanese(item) for key, item in value.items()}
    return value


def page(template: str, principal: Viewer | None, status_code: int = 200, **context) -> HTMLResponse:
    context |= {key: _japanese(context[key]) for key in ERROR_KEYS if key in context}
    html = render(template, principal=principal, role_label=principal.role_label if principal else "", **context)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
