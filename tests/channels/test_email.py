"""The e-mail channel (issue 24.4): its rule, its text, its SMTP send against the mail sink (bounces included),
contacts reached only by e-mail, and e-mail addresses in the registry's API and contact form."""

from __future__ import annotations

import asyncio
import socket
from types import SimpleNamespace

import pytest
from sqlmodel import select

from bcp_service.channels import CHANNELS
from bcp_service.channels.email import outbound
from bcp_service.channels.email.rule import can_mail, normalise_email
from bcp_service.channels.email.settings import EmailSettings
from bcp_service.channels.email.sink import MailSink, page_app
from bcp_service.contacts import Contact, bad_scope, choose
from bcp_service.models import ContactAddress, PatientContact
from bcp_service.models.base import utcnow
from bcp_service.rounds.messages import render_message
from notifiers import PermanentSendError, TransientSendError
from notifiers.twilio_codes import NOT_THIS_CHANNEL
from tests.page_clients import browser_as, csrf, field_error  # noqa: F401  (fixture)
from tests.registry.test_patients_api import area, patient_body  # noqa: F401  (fixture)

MOBILE = "+819012345678"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def message(to: str, **overrides):
    return SimpleNamespace(
        **{
            "id": 7,
            "to_number": to,
            "drill": True,
            "body": None,
            "template": "check_family",
            "answer_token": "tok123",
            "round_id": 1,
            **overrides,
        }
    )


def test_the_rule_reads_the_shape_of_an_address():
    assert can_mail("taro@example.jp") and can_mail("a.b+c@mail.example.co.jp")
    assert not can_mail(MOBILE) and not can_mail("taro@") and not can_mail("taro example@jp.jp") and not can_mail("")
    assert normalise_email("  Taro@Example.JP ") == "Taro@example.jp"
    with pytest.raises(ValueError, match="メールアドレス"):
        normalise_email("taro@example")


def test_a_contact_reached_only_by_email_and_one_with_both():
    only_mail = Contact(2, None, "family", own=(("email", "hanako@example.jp"),))
    assert only_mail.channels == ("email",) and only_mail.address("email") == "hanako@example.jp"
    assert only_mail.address("sms") is None
    both = Contact(1, MOBILE, "self", own=(("email", "taro@example.jp"),))
    assert both.channels == ("sms", "voice", "email")
    assert Contact(1, MOBILE, "self", preferred="email", own=(("email", "t@example.jp"),)).channels[0] == "email"
    assert Contact(2, None, "family", refused=frozenset({"email"}), own=(("email", "h@example.jp"),)).channels == ()
    # The family step reaches the e-mail-only family; failover goes on to the e-mail after the phone channels.
    assert choose([Contact(1, MOBILE, "self"), only_mail], "family") == [(only_mail, "email")]
    assert choose([both], "failover", tried={(1, "sms"), (1, "voice")}) == [(both, "email")]
    # A refused recipient rules out the address, never the contact's phone.
    assert bad_scope("email", "smtp_550", NOT_THIS_CHANNEL) == "email"


def test_the_mail_is_the_message_template_with_its_link_and_never_invites_a_reply(settings):
    body, error = outbound.render(message("h@example.jp"), settings, render_message)
    assert error is None and "ご家族・支援者の方へ" in body and "/a/tok123" in body and "送信専用" in body
    assert outbound.subject(True, "千葉県") == "【訓練】【千葉県】安否確認のお願い"
    built = outbound.build(message("h@example.jp"), body, settings, EmailSettings(sender="anpi@demo.example"))
    assert built["To"] == "h@example.jp" and built["Message-ID"].endswith("@demo.example>")
    assert outbound.cost(body) == 0  # mail takes nothing of the provider's shared rate


def test_a_mail_reaches_the_sink_and_a_refused_recipient_is_permanent(settings):
    port = free_port()
    sink = MailSink().start(port)
    mail = EmailSettings(host="127.0.0.1", port=port, starttls=False, sender="anpi@demo.example", timeout_seconds=5)
    try:
        result = asyncio.run(outbound.deliver(message("h@demo.example"), "本文 http://x/a/tok", settings, mail))
        assert result.status == "sent" and result.provider_id.startswith("<")
        (received,) = sink.received("h@demo.example")
        assert received.body.strip() == "本文 http://x/a/tok" and "安否確認" in received.subject
        with pytest.raises(PermanentSendError) as refused:
            asyncio.run(outbound.deliver(message("h@bounce.invalid"), "本文", settings, mail))
        assert refused.value.fact == NOT_THIS_CHANNEL and refused.value.bad_contact and refused.value.code == "smtp_550"
        page = page_app(sink)
        from fastapi.testclient import TestClient

        html = TestClient(page).get("/_mail").text
        assert "h@demo.example" in html and "回答する" in html and "不達" in html
    finally:
        sink.stop()
    with pytest.raises(TransientSendError):  # no server answers: worth another try
        asyncio.run(outbound.deliver(message("h@demo.example"), "本文", settings, mail))


def test_without_a_server_development_sends_nothing_and_production_fails_the_message(settings):
    unset = EmailSettings(host=None)
    dev = asyncio.run(
        outbound.deliver(message("h@example.jp"), "本文", settings.model_copy(update={"notifier": "console"}), unset)
    )
    assert dev.status == "sent"
    with pytest.raises(PermanentSendError) as failed:
        asyncio.run(
            outbound.deliver(message("h@example.jp"), "本文", settings.model_copy(update={"notifier": "twilio"}), unset)
        )
    assert failed.value.code == "smtp_unconfigured" and not failed.value.bad_contact


def test_the_api_takes_an_email_only_family_and_refuses_a_contact_with_nothing(client, session, area):
    body = patient_body(
        area,
        contacts=[
            {"kind": "self", "phone": "090-1234-5678"},
            {"kind": "family", "addresses": {"email": " Hanako@Example.JP "}, "preferred_channel": "email"},
        ],
    )
    created = client.post("/api/v1/patients", json=body)
    assert created.status_code == 201, created.text
    family = created.json()["contacts"][1]
    assert family["phone"] is None and family["addresses"] == {"email": "Hanako@example.jp"}
    assert (
        session.exec(select(ContactAddress.address).where(ContactAddress.contact_id == family["id"])).one()
        == "Hanako@example.jp"
    )
    nothing = client.post("/api/v1/patients", json=patient_body(area, external_id="x2", contacts=[{"kind": "family"}]))
    assert nothing.status_code == 422 and "電話番号かメールアドレス" in nothing.text and "phone" in nothing.text
    bad = client.post(
        "/api/v1/patients", json=patient_body(area, external_id="x3", contacts=[{"addresses": {"email": "hanako@"}}])
    )
    assert bad.status_code == 422 and "メールアドレスの形" in bad.text
    unknown = client.post(
        "/api/v1/patients",
        json=patient_body(area, external_id="x4", contacts=[{"phone": "090-1234-5678", "addresses": {"fax": "1"}}]),
    )
    assert unknown.status_code == 422
    # One contact corrected: a new address clears its refusal; a blank one removes the row.
    patient_id = created.json()["id"]
    row = session.exec(select(ContactAddress).where(ContactAddress.contact_id == family["id"])).one()
    row.refused_since = utcnow()
    session.add(row)
    session.flush()
    changed = client.put(
        f"/api/v1/patients/{patient_id}/contacts/{family['id']}",
        json={"kind": "family", "addresses": {"email": "new@example.jp"}, "preferred_channel": "email"},
    )
    assert changed.status_code == 200, changed.text
    session.expire_all()
    row = session.exec(select(ContactAddress).where(ContactAddress.contact_id == family["id"])).one()
    assert (row.address, row.refused_since) == ("new@example.jp", None)
    assert "email" in CHANNELS and session.get(PatientContact, family["id"]).phone is None


def test_the_contact_form_takes_an_email_address(browser_as, session, area):
    from tests.factories import create_patient

    patient = create_patient(session, area["city"], hub_id=area["hub"].id)
    hub = browser_as("hub", area["hub"].id)
    page = hub.get(f"/registry/patients/{patient.id}")
    assert 'name="address_email"' in page.text and "メールアドレス" in page.text
    token = csrf(page.text)
    bad = hub.post(
        f"/registry/patients/{patient.id}/contacts",
        data={"csrf_token": token, "kind": "family", "address_email": "hanako@"},
    )
    assert bad.status_code == 422 and "メールアドレスの形" in bad.text
    ok = hub.post(
        f"/registry/patients/{patient.id}/contacts",
        data={
            "csrf_token": token,
            "kind": "family",
            "address_email": "hanako@example.jp",
            "preferred_channel": "email",
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    shown = hub.get(f"/registry/patients/{patient.id}").text
    assert "hanako@example.jp" in shown and 'value="hanako@example.jp"' in shown
