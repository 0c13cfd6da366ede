"""Issue 25.4 (oncall): a critical patient who becomes unreachable pages the station and the hub.

End to end through the Twilio simulator: the escalation job marks the checks unreachable, the page is
queued through the outbox and the real worker sends it: an SMS to the station's mobile on-call number
(no name, the round's board link), a call to the hub's landline (spoken, asks nothing). A standard-tier
patient who becomes unreachable pages nobody. The banner shows on the station's nurse page and the hub's
board; the round timeline counts the page; an SMS reply from the on-call phone is never the patient's answer.
"""

from __future__ import annotations

import httpx
from sqlmodel import select

from bcp_service.models import CheckAnswer, CheckEvent, OutboxMessage, SafetyCheck
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from bcp_service.rounds.timeline import round_timeline
from tests.escalation.conftest import POLICY, phone
from tests.escalation.test_simulator import CALLER_ID, stack  # noqa: F401  (the fixture: app, simulator, worker)
from tests.factories import (
    bearer,
    create_institution,
    create_municipality,
    create_patient,
    create_prefecture,
    create_user,
)

STATION_ONCALL = "+819011112222"  # a mobile: the page is an SMS
HUB_ONCALL = "+81312345678"  # a landline (03): the page is a call


def seed(stack):
    with stack.factory() as session:
        city = create_municipality(session, create_prefecture(session))
        station = create_institution(session, city, kind="visiting_nurse_station", oncall_phone=STATION_ONCALL)
        hub = create_institution(session, city, kind="home_care_support_clinic", oncall_phone=HUB_ONCALL)
        critical = create_patient(
            session,
            city,
            phones=[phone("+8170")],
            uses_ventilator=True,
            ventilator_mode="invasive",
            visiting_nurse_station_id=station.id,
            hub_id=hub.id,
        )
        standard = create_patient(
            session,
            city,
            phones=[phone("+8170")],
            uses_oxygen=False,
            visiting_nurse_station_id=station.id,
            hub_id=hub.id,
        )
        assert (critical.risk_tier, standard.risk_tier) == ("critical", "standard")
        safety_round, _ = start_round(
            session=session,
            actor=Actor.system("test"),
            settings=stack.settings,
            drill=False,
            reason="disaster",
            target=RoundTarget(municipality_ids=[city.id]),
            escalation_policy=POLICY,
            title="千葉県北西部 震度6強",
        )
        nurse = bearer(session, create_user(session, "nurse", station.id))
        hub_staff = bearer(session, create_user(session, "hub", hub.id))
        other = bearer(
            session, create_user(session, "nurse", create_institution(session, city, kind="visiting_nurse_station").id)
        )
        ids = (safety_round.id, critical.id, critical.name, standard.id, standard.name)
        session.commit()
        return ids, nurse, hub_staff, other


def test_an_unreachable_critical_patient_pages_the_station_and_the_hub(stack):
    (round_id, critical, name, _standard, standard_name), nurse, hub_staff, other = seed(stack)
    stack.sim.configure(default_voice_digits=None, voice_answers={HUB_ONCALL: "1"})  # the hub picks up (and presses 1)
    stack.send()
    assert stack.escalate_at(round_id, 61)["unreachable"] == 2  # every step is due at once
    stack.send()

    # The station's on-call mobile gets one SMS: no name, the round's board link for staff.
    (text,) = [m["body"] for m in stack.sim.messages(to=STATION_ONCALL)]
    assert "担当の重症患者1名と連絡が取れません。" in text
    assert f"{stack.server.base_url}/board/rounds/{round_id}" in text
    assert name not in text and "/a/" not in text
    # The hub's landline is called; the call speaks the page and asks nothing.
    (call,) = stack.sim.calls(to=HUB_ONCALL)
    heard = " ".join(s["text"] for s in call["transcript"])
    assert "担当の重症患者1名と連絡が取れません" in heard and call["presses"] == []  # nothing asked, no press taken
    assert stack.sim.messages(to=HUB_ONCALL) == []

    with stack.factory() as session:
        pages = session.exec(select(OutboxMessage).where(OutboxMessage.template == "oncall_page")).all()
        assert [(p.to_number, p.check_id, p.contact_id, p.state) for p in pages] == [
            (STATION_ONCALL, None, None, "delivered")
        ]
        events = session.exec(
            select(CheckEvent.check_id, CheckEvent.messages, CheckEvent.detail).where(CheckEvent.action == "page")
        ).all()
        critical_check = session.exec(select(SafetyCheck.id).where(SafetyCheck.patient_id == critical)).one()
        assert events == [(critical_check, 2, "oncall_station+hub")]  # the standard patient pages nobody
        (line,) = [t for t in round_timeline(session=session, round_id=round_id) if t.action == "page"]
        assert (line.label, line.checks, line.messages) == ("当番電話へ呼び出し（重症・連絡不能）", 1, 2)

    # An SMS reply from the on-call phone is not taken as the patient's answer.
    stack.sim.configure(inbound_webhook_url=f"{stack.server.base_url}/webhooks/twilio/inbound")
    assert stack.sim.inbound(from_=STATION_ONCALL, to=CALLER_ID, body="1")["status_code"] == 200
    with stack.factory() as session:
        assert session.exec(select(CheckAnswer).where(CheckAnswer.check_id == critical_check)).all() == []

    # Banners: the station's nurse page and the hub's board name the critical patient; another station sees none.
    base = stack.server.base_url
    nurse_page = httpx.get(f"{base}/nurse", headers=nurse).text
    assert "担当の重症患者 1名と連絡が取れません" in nurse_page and name in nurse_page
    assert (
        f'href="/board/rounds/{round_id}"' in nurse_page
        and standard_name not in nurse_page.split("oncall-page")[1][:600]
    )
    board = httpx.get(f"{base}/board", headers=hub_staff).text
    assert "担当の重症患者 1名と連絡が取れません" in board and name in board
    assert "連絡が取れません" not in httpx.get(f"{base}/nurse", headers=other).text
    round_page = httpx.get(f"{base}/rounds/{round_id}", headers=hub_staff).text
    assert "当番電話へ呼び出し（重症・連絡不能）" in round_page
