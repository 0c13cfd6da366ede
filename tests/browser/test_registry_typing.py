"""A clinic clerk registers a patient on a phone the way people type (issue 27, done-when): full-width
digits in the landline, the hours and the family contact's mobile, the birth date in 和暦; the
clinic is already chosen as the active institution, and the picker's type-ahead finds a name typed full-width. The pages only, in Chromium, at 360 px."""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from bcp_service.models import Patient, PatientContact
from tests.browser.pages import PHONE, log_in, page_width
from tests.factories import create_institution, create_municipality, create_prefecture, create_user


def test_clinic_registers_a_patient_typing_full_width_digits(browser, live_server, committed):
    prefecture = create_prefecture(committed)
    city = create_municipality(committed, prefecture, name="千葉市")
    clinic = create_institution(committed, city, name="花見川在宅クリニック", kind="home_care_support_clinic")
    create_institution(committed, city, name="千葉市消防局", kind="fire_ems_agency")
    others = [create_institution(committed, city, name=f"診療所{n:02d}", kind="clinic") for n in range(16)]
    user = create_user(committed, "institution", clinic.id)
    committed.commit()

    context = browser.new_context(**PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server.url, user.username, "/registry/patients/new")
    assert page.locator("#f-active_institution_id").input_value() == str(clinic.id)  # the clinic's own, chosen
    assert "千葉市消防局" not in page.locator("#f-active_institution_id").inner_text()
    assert page_width(page) <= 360
    search = page.locator("input.typeahead[aria-controls=f-active_institution_id]")  # the picker's type-ahead
    search.fill("診療所０７")  # full-width, as the IME leaves it
    assert page.locator("#f-active_institution_id").input_value() == str(others[7].id)
    search.fill("花見川")
    assert page.locator("#f-active_institution_id").input_value() == str(clinic.id)

    page.fill("#f-name", "千葉 花子")
    page.fill("#f-birth_date", "昭和45年3月2日")
    page.select_option("#f-municipality_id", str(city.id))
    page.check("#f-uses_oxygen")
    page.fill("#f-cylinder_hours", "３")
    page.fill("#f-contact_phone", "０４３－２２３－４５６７")  # a landline, typed with the IME on
    page.select_option("#f-contact_preferred_channel", "voice")
    page.click("button:has-text('登録する')")
    page.wait_for_selector("#contacts")
    assert page_width(page) <= 360

    page.click("summary:has-text('連絡先を追加')")
    page.fill("#cnew-phone", "０９０　１１１１　２２２２")
    page.select_option("#cnew-kind", "family")
    page.fill("#cnew-name", "千葉 太郎")
    page.click("button:has-text('追加する')")
    page.wait_for_selector("text=千葉 太郎")
    assert page_width(page) <= 360
    assert not errors

    committed.rollback()  # a fresh snapshot: the server committed in its own sessions
    patient = committed.exec(select(Patient).where(Patient.name == "千葉 花子")).one()
    assert patient.birth_date == date(1970, 3, 2) and patient.cylinder_hours == 3
    assert patient.active_institution_id == clinic.id
    contacts = committed.exec(
        select(PatientContact).where(PatientContact.patient_id == patient.id).order_by(PatientContact.position)
    ).all()
    assert [(c.phone, c.kind, c.preferred_channel) for c in contacts] == [
        ("+81432234567", "self", "voice"),
        ("+819011112222", "family", "sms"),
    ]
