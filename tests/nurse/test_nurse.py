import re
import uuid
from datetime import timedelta

from sqlmodel import select

from bcp_service.models import AuditEvent, CheckAnswer, SafetyCheck
from bcp_service.models.base import utcnow
from bcp_service.rounds.counters import read_counters, recount
from bcp_service.rounds.service import Actor, close_round
from tests.factories import refuse


def test_list_shows_my_patients_most_urgent_first_with_call_links(browser_as, session, scene):
    nurse = browser_as("nurse", scene.area.station.id)
    page = nurse.get("/nurse")
    assert page.status_code == 200
    html = page.text
    names = [n.strip() for n in re.findall(r"<h2 class=\"pt-name\">([^<]+)", html)]
    # Hours to harm lead (rounds.triage): oxygen users who did not say their hours (zero) first.
    assert names[:4] == ["酸素 要支援", "搬送 必要", "呼吸器 停電", "呼吸器 停電長"]
    assert names[4] == "未回答 重症" and names[-1] == "無事 太郎"
    assert "隣町 花子" not in html  # another station's patient
    assert 'href="tel:+8190' in html and "090-" in html and "本人" in html and "家族" in html
    assert "【訓練】" in html and 'name="csrf_token"' in html and 'src="/static/nurse.js"' in html
    assert 'name="viewport" content="width=device-width' in html
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "nurse.list")).first()
    assert event.patient_count == 7


def test_json_result_is_recorded_once_per_client_id(browser_as, session, scene):
    nurse = browser_as("nurse", scene.area.station.id)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', nurse.get("/nurse").text).group(1)
    check = scene.checks["silent_critical"]
    body = {
        "client_id": str(uuid.uuid4()),
        "check_id": check.id,
        "state": "power_out",
        "hours_left": 3,
        "method": "visit",
        "note": "外部バッテリー接続済み",
        "observed_at": (utcnow() - timedelta(minutes=2)).isoformat(),
    }
    assert nurse.post("/api/v1/nurse/results", json=body).status_code == 403  # cookie session without CSRF header
    first = nurse.post("/api/v1/nurse/results", json=body, headers={"X-CSRF-Token": csrf})
    again = nurse.post("/api/v1/nurse/results", json=body, headers={"X-CSRF-Token": csrf})
    assert first.status_code == 200 and first.json()["created"] is True
    assert again.status_code == 200 and again.json() == {**first.json(), "created": False}
    answers = session.exec(select(CheckAnswer).where(CheckAnswer.check_id == check.id)).all()
    assert len(answers) == 1
    answer = answers[0]
    assert (answer.channel, answer.answered_by, answer.state, answer.hours_left) == (
        "nurse",
        "nurse_visit",
        "power_out",
        3,
    )
    assert (
        answer.idempotency_key == f"nurse:{scene.area.station.id}:{body['client_id']}"
        and answer.user_id == nurse.user.id
    )
    session.refresh(check)
    assert check.state == "power_out"
    assert read_counters(session=session, round_id=scene.round.id) == recount(session=session, round_id=scene.round.id)
    other = {**body, "check_id": scene.checks["silent_standard"].id}
    assert nurse.post("/api/v1/nurse/results", json=other, headers={"X-CSRF-Token": csrf}).status_code == 409


def test_results_outside_my_scope_or_after_the_close_are_refused(client_as, session, scene):
    nurse = client_as("nurse", scene.area.station.id)
    outside = {"client_id": str(uuid.uuid4()), "check_id": scene.checks["town_person"].id, "state": "safe"}
    assert nurse.post("/api/v1/nurse/results", json=outside).status_code == 404
    assert nurse.post("/api/v1/nurse/results", json={**outside, "state": "no_answer"}).status_code == 422
    assert nurse.post("/api/v1/nurse/results", json={**outside, "client_id": "x"}).status_code == 422
    recorded_before_close = utcnow() - timedelta(minutes=1)
    close_round(session=session, round_id=scene.round.id, actor=Actor.system("test"))
    session.flush()
    late = {"client_id": str(uuid.uuid4()), "check_id": scene.checks["silent_standard"].id, "state": "safe"}
    closed = nurse.post("/api/v1/nurse/results", json=late)
    assert closed.status_code == 409 and "結果を記録できません" in closed.json()["detail"][0]["msg"]
    offline = {**late, "client_id": str(uuid.uuid4()), "observed_at": recorded_before_close.isoformat()}
    # Backdated to before the close, sent after it: refused too, with the same Japanese message (issue 23).
    backdated = nurse.post("/api/v1/nurse/results", json=offline)
    assert backdated.status_code == 409 and "すでに終了" in backdated.json()["detail"][0]["msg"]
    assert client_as("hub", scene.area.hub.id).post("/api/v1/nurse/results", json=late).status_code == 403


def test_form_works_without_javascript(browser_as, session, scene):
    nurse = browser_as("nurse", scene.area.station.id)
    html = nurse.get("/nurse").text
    check = scene.checks["silent_standard"]
    form = html.split(f'action="/nurse/checks/{check.id}/result"')[1].split("</form>")[0]
    fields = dict(re.findall(r'name="(csrf_token|client_id)" value="([^"]+)"', form))
    data = {**fields, "state": "safe", "method": "phone", "hours": "", "note": "電話で確認"}
    assert nurse.post(f"/nurse/checks/{check.id}/result", data={**data, "csrf_token": "forged"}).status_code == 403
    done = nurse.post(f"/nurse/checks/{check.id}/result", data=data, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith(f"/nurse?done={check.id}&message=saved")
    repeat = nurse.post(f"/nurse/checks/{check.id}/result", data=data, follow_redirects=False)
    assert "message=again" in repeat.headers["location"]
    assert len(session.exec(select(CheckAnswer).where(CheckAnswer.check_id == check.id)).all()) == 1
    bad = nurse.post(
        f"/nurse/checks/{check.id}/result", data={**data, "client_id": "", "hours": "たくさん"}, follow_redirects=False
    )
    assert "error=input" in bad.headers["location"]
    page = nurse.get(f"/nurse?done={check.id}&message=saved")
    assert "記録しました" in page.text and session.get(SafetyCheck, check.id).state == "safe"


def test_nurse_page_is_for_nurses(client_as, scene):
    assert client_as("hub", scene.area.hub.id).get("/nurse").status_code == 403
    assert client_as("nurse", scene.area.station.id).get("/").status_code == 200


def test_nurse_form_fills_the_structured_answer(browser_as, session, scene):
    nurse = browser_as("nurse", scene.area.station.id)
    html = nurse.get("/nurse").text
    check = scene.checks["silent_critical"]
    form = html.split(f'action="/nurse/checks/{check.id}/result"')[1].split("</form>")[0]
    assert 'value="admitted"' in form and 'value="evacuated"' in form and 'name="hours_unknown"' in form
    fields = dict(re.findall(r'name="(csrf_token|client_id)" value="([^"]+)"', form))
    data = {
        **fields,
        "state": "needs_transport",
        "method": "visit",
        "hours": "",
        "hours_unknown": "1",
        "power": "out",
        "needs_admission": "1",
        "note": "外部バッテリー残量不明",
    }
    done = nurse.post(f"/nurse/checks/{check.id}/result", data=data, follow_redirects=False)
    assert done.status_code == 303 and "message=saved" in done.headers["location"]
    (answer,) = session.exec(select(CheckAnswer).where(CheckAnswer.check_id == check.id)).all()
    assert (
        answer.state,
        answer.power,
        answer.hours_left,
        answer.hours_unknown,
        answer.needs_transport,
        answer.needs_admission,
        answer.answered_by,
    ) == ("needs_transport", "out", None, True, True, True, "nurse_visit")
    session.refresh(check)
    assert (check.state, check.note, check.needs_admission) == ("needs_transport", "外部バッテリー残量不明", True)
    card = nurse.get("/nurse").text.split(f'id="c{check.id}"')[1].split("</article>")[0]
    assert "停電中" in card and "入院希望" in card and "「外部バッテリー残量不明」" in card


def test_a_number_the_provider_refused_is_shown_with_a_warning(browser_as, session, scene):
    from bcp_service.models import PatientContact

    contacts = session.exec(select(PatientContact).order_by(PatientContact.id)).all()
    refused_calls, landline = contacts[0], contacts[1]
    refuse(session, refused_calls.id, "voice")
    refuse(session, landline.id, "sms")
    html = browser_as("nurse", scene.area.station.id).get("/nurse").text
    assert html.count("通話できない番号") == 1 and "届かない番号" not in html
