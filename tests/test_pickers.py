"""Long institution pickers get the type-ahead box (issue 27.5): the admin's account form and the patient
list's filters, beside the patient form's (tests/browser/test_registry_typing.py types in one)."""

from __future__ import annotations

from tests.factories import create_institution, create_municipality, create_prefecture
from tests.page_clients import browser_as  # noqa: F401 (fixture)


def test_long_institution_pickers_offer_type_ahead(browser_as, session):
    city = create_municipality(session, create_prefecture(session))
    for n in range(16):
        create_institution(session, city, kind="clinic", name=f"架空診療所{n:02d}")
    admin = browser_as("admin")
    users = admin.get("/admin/users").text
    assert 'id="u-scope" name="scope_id" data-typeahead' in users and "/static/picker.js" in users
    patients = admin.get("/registry/patients").text
    assert 'id="institution_id" name="institution_id" data-typeahead' in patients and "/static/picker.js" in patients
