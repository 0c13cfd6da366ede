"""The round page's incident block: two rounds started by hand joined as one disaster (issue 25.1),
the 【本番】 mark (issue 27.7) and the contact budget it states."""

from __future__ import annotations

import re

from sqlmodel import select

from bcp_service.models import AuditEvent, OutboxMessage, SafetyCheck, SafetyRound
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from tests.board.conftest import browser_as, scene  # noqa: F401  (fixtures)
from tests.rounds.conftest import add_patient


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _start(session, settings, area, title: str, drill: bool = False) -> SafetyRound:
    safety_round, _ = start_round(
        session=session,
        actor=Actor("admin", role="admin"),
        settings=settings,
        target=RoundTarget(region_ids=[area.region.id]),
        reason="manual",
        drill=drill,
        title=title,
    )
    return safety_round


def test_two_rounds_joined_by_hand_share_each_conversation(browser_as, session, settings, area, anon_client):
    first_patient = add_patient(session, area.city)
    second_patient = add_patient(session, area.city)
    quake = _start(session, settings, area, "地震（手動）")
    blackout = _start(session, settings, area, "停電（手動）")
    drill = _start(session, settings, area, "訓練", drill=True)
    # Answered in the first round before the two are joined.
    token = session.exec(
        select(OutboxMessage.answer_token)
        .join(SafetyCheck, SafetyCheck.id == OutboxMessage.check_id)
        .where(OutboxMessage.round_id == quake.id, SafetyCheck.patient_id == first_patient.id)
    ).one()
    assert anon_client.post(f"/a/{token}", data={"state": "safe", "nonce": "n1"}).status_code == 200

    admin = browser_as("admin")
    page = admin.get(f"/rounds/{blackout.id}").text
    assert "【本番】実際の災害の安否確認です" in page and '<span class="real-tag">【本番】</span>' in page
    assert "ほかの安否確認とはまとめていません" in page
    # The budget held the second round's messages to the same phones (the first round texted them just now).
    assert "10 分に SMS 1 通・電話 1 本まで" in page and "上限のため待機中 <strong>2</strong> 通" in page
    options = re.findall(r'<option value="(\d+)">', page.split('id="join-form"')[1].split("</select>")[0])
    assert options == [str(quake.id)]  # not the drill, not itself
    refused = admin.post(
        f"/rounds/{blackout.id}/incident",
        data={"csrf_token": _csrf(page), "other_round_id": str(drill.id)},
        follow_redirects=False,
    )
    assert "join_error=1" in refused.headers["location"]
    joined = admin.post(
        f"/rounds/{blackout.id}/incident",
        data={"csrf_token": _csrf(page), "other_round_id": str(quake.id)},
        follow_redirects=False,
    )
    assert joined.status_code == 303 and "joined=1" in joined.headers["location"]
    session.expire_all()
    assert session.get(SafetyRound, quake.id).incident_id == session.get(SafetyRound, blackout.id).incident_id
    checks = {(c.round_id, c.patient_id): c for c in session.exec(select(SafetyCheck)).all()}
    later = checks[(blackout.id, first_patient.id)]
    assert later.follows_check_id == checks[(quake.id, first_patient.id)].id and later.state == "safe"
    assert checks[(blackout.id, second_patient.id)].follows_check_id == checks[(quake.id, second_patient.id)].id
    # The second round's unsent messages are cancelled: the first round's conversation goes on.
    held = session.exec(select(OutboxMessage.state).where(OutboxMessage.round_id == blackout.id)).all()
    assert held == ["cancelled", "cancelled"]
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "round.join_incident")).first() is not None

    after = admin.get(joined.headers["location"]).text
    assert "同じ災害としてまとめました" in after and f'href="/rounds/{quake.id}"' in after
    assert "新たに送っていません" in after
    quake_page = admin.get(f"/rounds/{quake.id}").text
    # Closing the first round says who is handed back to the second.
    assert "この安否確認が連絡を受け持っていた <strong>2</strong> 人" in quake_page
    drill_page = admin.get(f"/rounds/{drill.id}").text
    assert "【訓練】これは訓練です" in drill_page and "【本番】実際の災害" not in drill_page
