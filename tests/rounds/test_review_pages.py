"""The review page: unread replies with their text and candidate patients; resolved in two taps."""

from __future__ import annotations

import re

from sqlmodel import select

from bcp_service.models import AuditEvent, AuditEventPatient, CheckAnswer, PatientContact, UnmatchedReply
from tests.board.conftest import browser_as, scene  # noqa: F401  (fixtures)


def _reply(session, phone: str, body: str, **values) -> UnmatchedReply:
    reply = UnmatchedReply(
        from_number=phone,
        body=body,
        provider_message_id=f"SM{abs(hash((phone, body)))}",
        reason=values.pop("reason", "unreadable"),
        **values,
    )
    session.add(reply)
    session.flush()
    return reply


def _phone(session, patient) -> str:
    return session.exec(select(PatientContact.phone).where(PatientContact.patient_id == patient.id)).first()


def test_reply_shows_text_and_candidate_and_is_resolved_with_a_state(browser_as, session, scene):
    person = scene.people.silent_critical
    check = scene.checks["silent_critical"]
    reply = _reply(session, _phone(session, person), "でんきとまった　ばってりー３じかん", parsed_state="power_out")
    hub = browser_as("hub", scene.area.hub.id)
    page = hub.get("/review")
    assert page.status_code == 200
    card = page.text.split(f'id="r{reply.id}"')[1].split("</article>")[0]
    assert "でんきとまった" in card and "未回答 重症" in card and "本人の番号" in card
    assert f'<details class="candidate" open data-check="{check.id}">' in card  # one candidate: already open
    assert 'class="state-power_out suggested"' in card
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "reply.list")).first()
    shown = set(session.exec(select(AuditEventPatient.patient_id).where(AuditEventPatient.event_id == event.id)).all())
    assert person.id in shown

    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    done = hub.post(
        f"/review/{reply.id}/resolve",
        data={"csrf_token": csrf, "check_id": str(check.id), "state": "power_out", "hours": "３"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    session.refresh(reply)
    assert reply.resolution == "answered" and reply.resolved_check_id == check.id
    answer = session.exec(select(CheckAnswer).where(CheckAnswer.check_id == check.id)).one()
    assert answer.state == "power_out" and answer.hours_left == 3 and answer.answered_by == "reviewer"
    after = hub.get(done.headers["location"]).text
    assert "返信を処理しました" in after and f'id="r{reply.id}"' not in after

    again = hub.post(
        f"/review/{reply.id}/resolve", data={"csrf_token": csrf, "check_id": str(check.id), "state": "safe"}
    )
    assert again.status_code == 409 and "既に処理されています" in again.text


def test_bad_input_is_a_4xx_with_a_message_and_dismiss_works(browser_as, session, scene):
    reply = _reply(session, _phone(session, scene.people.safe), "？？")
    admin = browser_as("admin")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', admin.get("/review").text).group(1)
    bad = admin.post(f"/review/{reply.id}/resolve", data={"csrf_token": csrf, "check_id": "1", "state": "bogus"})
    assert bad.status_code == 422 and "入力を確認してください" in bad.text
    dismissed = admin.post(f"/review/{reply.id}/resolve", data={"csrf_token": csrf}, follow_redirects=False)
    assert dismissed.status_code == 303
    session.refresh(reply)
    assert reply.resolution == "dismissed"


def test_reply_from_outside_the_scope_is_not_shown(browser_as, session, scene):
    reply = _reply(session, _phone(session, scene.people.town_person), "ぶじ")
    html = browser_as("hub", scene.area.hub.id).get("/review").text
    assert f'id="r{reply.id}"' not in html and "確認が必要な返信はありません" in html
    assert browser_as("institution", scene.area.station.id).get("/review", follow_redirects=False).status_code == 403
