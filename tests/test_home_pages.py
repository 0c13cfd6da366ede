"""The home page links each role to the pages it may open, and every link it shows is served."""

from __future__ import annotations

import re

import pytest

from tests.factories import create_institution, create_municipality, create_prefecture
from tests.page_clients import browser_as  # noqa: F401  (fixture)

EXPECTED = {
    "admin": {"/registry/patients", "/imports", "/exports", "/admin/users", "/audit", "/registry/regions"},
    "prefecture": {"/registry/patients", "/imports", "/audit", "/registry/institutions"},
    "hub": {"/registry/patients", "/imports", "/exports", "/registry/regions"},
    "institution": {"/registry/patients", "/imports", "/bcp/drafts"},
    "nurse": {"/nurse", "/registry/patients", "/exports"},
}
FORBIDDEN = {
    "prefecture": {"/admin/users"},
    "hub": {"/admin/users", "/audit"},
    "institution": {"/admin/users", "/audit"},
    "nurse": {"/admin/users", "/audit", "/imports"},
}


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_role_gets_its_pages_and_every_link_opens(browser_as, session, role):
    prefecture = create_prefecture(session)
    station = create_institution(session, create_municipality(session, prefecture), kind="visiting_nurse_station")
    browser = browser_as(role, prefecture.id if role == "prefecture" else station.id if role != "admin" else None)
    links = set(re.findall(r'<li><a href="([^"]+)">', browser.get("/").text))
    assert EXPECTED[role] <= links
    assert not (FORBIDDEN.get(role, set()) & links)
    for href in links - {"/docs"}:
        assert browser.get(href).status_code == 200, href
