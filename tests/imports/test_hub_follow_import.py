"""Imports follow the map like the forms and the API (issue 27.2): a row naming no hub takes the
municipality's, a patient who moves takes the new municipality's unless pinned."""

from sqlmodel import select

from bcp_service.models import Patient
from tests.factories import create_institution, designate
from tests.imports.conftest import HEADER_JA, patient_row, to_csv


def _patient(session, external_id) -> Patient:
    session.expire_all()
    return session.exec(select(Patient).where(Patient.external_id == external_id)).one()


def test_import_gives_the_municipalitys_hub_and_follows_a_move(session, run, area):
    other_hub = create_institution(session, area["town"], kind="public_health_center", external_id="T-HUB2")
    designate(session, other_hub, area["region"], "hub", covers=[area["town"]])
    assert run(to_csv([patient_row(area, "P-1"), patient_row(area, "P-2")], HEADER_JA)).report.created == 2
    assert _patient(session, "P-1").hub_id == area["hub"].id  # covers the city directly: first choice
    pinned = _patient(session, "P-2")
    pinned.hub_pinned = True
    session.add(pinned)
    session.flush()

    moved = run(to_csv([patient_row(area, "P-1", 市町村コード=area["town"].code)], HEADER_JA)).report
    assert moved.ok and moved.updated == 1, moved.errors
    assert _patient(session, "P-1").hub_id == other_hub.id

    refused = run(to_csv([patient_row(area, "P-2", 市町村コード=area["town"].code)], HEADER_JA)).report
    assert not refused.ok and "連携拠点" in str(refused.errors)  # pinned to a hub that does not cover the town
    assert _patient(session, "P-2").hub_id == area["hub"].id
