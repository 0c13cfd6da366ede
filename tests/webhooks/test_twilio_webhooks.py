from sqlmodel import select
from twilio.request_validator import RequestValidator

from bcp_service.models import CheckAnswer, OutboxMessage, SafetyCheck, UnmatchedReply
from bcp_service.outbox.delivery import apply_early_statuses
from bcp_service.rounds.counters import read_counters, recount
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from tests.webhooks.conftest import BASE, add_patient, post_signed, sid


def status(message, value, **extra):
    return {"MessageSid": message.provider_message_id, "MessageStatus": value, "AccountSid": "AC1", **extra}


def inbound(sender, body, message_sid=None):
    return {
        "MessageSid": message_sid or sid(),
        "From": sender,
        "To": "+815011112222",
        "Body": body,
        "AccountSid": "AC1",
    }


def test_forged_or_missing_signatures_are_refused_and_record_nothing(anon_client, session, sent_round):
    _, message, _ = sent_round
    params = inbound(message.to_number, "1")
    assert anon_client.post("/webhooks/twilio/inbound", data=params).status_code == 403
    assert post_signed(anon_client, "/webhooks/twilio/inbound", params, token="wrong-token").status_code == 403
    # Signed for the URL the request arrived on, not the configured public one.
    assert (
        post_signed(
            anon_client, "/webhooks/twilio/inbound", params, url="http://testserver/webhooks/twilio/inbound"
        ).status_code
        == 403
    )
    tampered = {**params, "Body": "2"}
    good = RequestValidator("simulator-auth-token").compute_signature(BASE + "/webhooks/twilio/inbound", params)
    assert (
        anon_client.post("/webhooks/twilio/inbound", data=tampered, headers={"X-Twilio-Signature": good}).status_code
        == 403
    )
    assert (
        post_signed(anon_client, "/webhooks/twilio/status", status(message, "delivered"), token="x").status_code == 403
    )
    assert session.exec(select(CheckAnswer)).all() == []
    assert session.exec(select(UnmatchedReply)).all() == []
    session.refresh(message)
    assert message.state == "sent"


def test_status_never_moves_backwards_and_is_idempotent(anon_client, session, sent_round):
    _, message, _ = sent_round
    for value in ("delivered", "sent", "delivered", "queued"):
        assert post_signed(anon_client, "/webhooks/twilio/status", status(message, value)).status_code == 204
    session.refresh(message)
    assert message.state == "delivered"


def test_undelivered_flags_the_check_when_nothing_else_is_left(anon_client, session, sent_round):
    safety_round, message, _ = sent_round
    post_signed(anon_client, "/webhooks/twilio/status", status(message, "undelivered", ErrorCode="30003"))
    session.refresh(message)
    assert (message.state, message.last_error_code) == ("undelivered", "30003")
    check = session.get(SafetyCheck, message.check_id)
    session.refresh(check)
    assert check.state == "delivery_failed"
    assert read_counters(session=session, round_id=safety_round.id) == recount(
        session=session, round_id=safety_round.id
    )


def test_status_before_the_provider_id_is_recorded_is_kept_and_applied(anon_client, session, sent_round):
    _, message, _ = sent_round
    early_sid = sid()
    for value in ("delivered", "sent"):
        post_signed(
            anon_client,
            "/webhooks/twilio/status",
            {"MessageSid": early_sid, "MessageStatus": value, "AccountSid": "AC1"},
        )
    message.provider_message_id, message.state = early_sid, "sent"
    session.add(message)
    session.flush()
    assert apply_early_statuses(session, [early_sid]) == 1
    session.refresh(message)
    assert message.state == "delivered"


def test_reply_by_number_answers_the_open_check(anon_client, session, sent_round):
    safety_round, message, _ = sent_round
    params = inbound(message.to_number, "停電 あと３時間")
    response = post_signed(anon_client, "/webhooks/twilio/inbound", params)
    assert response.status_code == 200 and "停電" in response.text and "<Message>" in response.text
    again = post_signed(anon_client, "/webhooks/twilio/inbound", params)
    assert again.status_code == 200 and "<Message>" not in again.text
    answers = session.exec(select(CheckAnswer).where(CheckAnswer.check_id == message.check_id)).all()
    assert len(answers) == 1
    assert (answers[0].state, answers[0].hours_left, answers[0].channel) == ("power_out", 3.0, "sms")
    check = session.get(SafetyCheck, message.check_id)
    session.refresh(check)
    assert check.state == "power_out"
    assert read_counters(session=session, round_id=safety_round.id) == recount(
        session=session, round_id=safety_round.id
    )


def test_unreadable_and_unknown_replies_wait_for_a_person(anon_client, session, sent_round):
    _, message, _ = sent_round
    ambiguous = post_signed(anon_client, "/webhooks/twilio/inbound", inbound(message.to_number, "大丈夫じゃない"))
    assert "読み取れませんでした" in ambiguous.text
    stranger = post_signed(anon_client, "/webhooks/twilio/inbound", inbound("+819099999999", "1"))
    assert "<Message>" not in stranger.text
    queued = {r.reason: r for r in session.exec(select(UnmatchedReply)).all()}
    assert set(queued) == {"ambiguous:negated_safe", "no_open_check"}
    assert queued["ambiguous:negated_safe"].candidate_check_id == message.check_id
    assert session.exec(select(CheckAnswer)).all() == []


def test_a_patient_in_two_running_rounds_gets_the_answer_in_each(anon_client, session, settings, sent_round, area):
    first, message, _patient = sent_round
    second, _ = start_round(
        session=session,
        actor=Actor.system("test"),
        settings=settings,
        drill=True,
        reason="manual",
        target=RoundTarget(municipality_ids=[area.city.id]),
    )
    reply = post_signed(anon_client, "/webhooks/twilio/inbound", inbound(message.to_number, "無事です"))
    assert "読み取れませんでした" not in reply.text
    answers = session.exec(select(CheckAnswer)).all()
    assert sorted(a.round_id for a in answers) == sorted([first.id, second.id])
    assert {a.state for a in answers} == {"safe"} and session.exec(select(UnmatchedReply)).all() == []
    for round_id in (first.id, second.id):
        assert read_counters(session=session, round_id=round_id) == recount(session=session, round_id=round_id)


def test_number_shared_by_two_patients_is_not_guessed(anon_client, session, settings, sent_round, area):
    _, message, _ = sent_round
    add_patient(session, area.city, phones=[message.to_number])
    start_round(
        session=session,
        actor=Actor.system("test"),
        settings=settings,
        drill=True,
        reason="manual",
        target=RoundTarget(municipality_ids=[area.city.id]),
    )
    post_signed(anon_client, "/webhooks/twilio/inbound", inbound(message.to_number, "1"))
    (reply,) = session.exec(select(UnmatchedReply)).all()
    assert reply.reason == "several_open_checks" and reply.candidate_check_id is None
    assert session.exec(select(CheckAnswer)).all() == []


def test_a_reply_fills_the_structured_answer(anon_client, session, sent_round):
    _, message, _ = sent_round
    post_signed(anon_client, "/webhooks/twilio/inbound", inbound(message.to_number, "停電ですがバッテリーは十分"))
    (answer,) = session.exec(select(CheckAnswer)).all()
    assert (answer.state, answer.power, answer.hours_left, answer.hours_unknown) == ("power_out", "out", None, False)
    check = session.get(SafetyCheck, message.check_id)
    session.refresh(check)
    assert (check.state, check.power, check.hours_left, check.note) == (
        "power_out",
        "out",
        None,
        "停電ですがバッテリーは十分",
    )


def test_review_queue_resolves_to_a_check(client, client_as, session, sent_round, area):
    safety_round, message, _ = sent_round
    post_signed(client, "/webhooks/twilio/inbound", inbound(message.to_number, "うーん"))
    post_signed(client, "/webhooks/twilio/inbound", inbound("+819099999998", "助けて"))
    listed = client.get("/api/v1/unmatched-replies").json()
    assert listed["total"] == 2
    hub_view = client_as("hub", area.hub.id).get("/api/v1/unmatched-replies").json()
    assert [r["from_number"] for r in hub_view["items"]] == [message.to_number]
    reply_id = hub_view["items"][0]["id"]
    resolved = client_as("hub", area.hub.id).post(
        f"/api/v1/unmatched-replies/{reply_id}/resolve",
        json={"check_id": message.check_id, "state": "needs_help", "note": "電話で確認"},
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolution"] == "answered"
    assert client.post(f"/api/v1/unmatched-replies/{reply_id}/resolve", json={}).status_code == 409
    detail = client.get(f"/api/v1/rounds/{safety_round.id}/checks/{message.check_id}").json()
    assert detail["state"] == "needs_help"
    assert detail["answers"][0]["answered_by"] == "reviewer" and "電話で確認" in detail["answers"][0]["note"]
    other = listed["items"][1]["id"] if listed["items"][0]["id"] == reply_id else listed["items"][0]["id"]
    assert (
        client.post(f"/api/v1/unmatched-replies/{other}/resolve", json={"note": "いたずら"}).json()["resolution"]
        == "dismissed"
    )
    assert client.get("/api/v1/unmatched-replies").json()["total"] == 0


def test_a_status_naming_its_row_adopts_a_send_whose_answer_was_lost(anon_client, session, sent_round):
    """Issue 26.4: the status callback URL carries ?outbox=<id>; a row waiting to be sent again after a
    lost create answer takes that send's id and is not sent a second time."""
    _, message, _ = sent_round
    message.state, message.provider_message_id, message.attempts = "queued", None, 1
    session.add(message)
    session.flush()
    lost = sid()
    response = post_signed(
        anon_client, f"/webhooks/twilio/status?outbox={message.id}", {"MessageSid": lost, "MessageStatus": "delivered"}
    )
    assert response.status_code == 204
    session.expire_all()
    row = session.get(OutboxMessage, message.id)
    assert (row.provider_message_id, row.state) == (lost, "delivered")
    # A row that no earlier try could have sent is never adopted by a stray outbox id.
    other_sid = sid()
    row.state, row.provider_message_id, row.attempts = "queued", None, 0
    session.add(row)
    session.flush()
    post_signed(
        anon_client, f"/webhooks/twilio/status?outbox={message.id}", {"MessageSid": other_sid, "MessageStatus": "sent"}
    )
    session.expire_all()
    assert session.get(OutboxMessage, message.id).provider_message_id is None
