"""Round pages: preview before starting, start (CSRF, idempotent), progress and escalation, close."""

from __future__ import annotations

import re

from sqlmodel import select

from bcp_service.models import AuditEvent, CheckEvent, SafetyRound
from bcp_service.models.base import utcnow
from tests.board.conftest import browser_as, scene  # noqa: F401  (fixtures)
from tests.rounds.conftest import add_patient


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _key(html: str) -> str:
    return re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)


def test_preview_counts_people_messages_segments_and_time(browser_as, session, area):
    add_patient(session, area.city, uses_ventilator=True, ventilator_mode="invasive", uses_oxygen=False)
    add_patient(session, area.city)
    add_patient(session, area.city, phones=[])  # no SMS contact
    add_patient(session, area.town)  # outside the region
    officer = browser_as("prefecture", area.prefecture.id)
    page = officer.get(
        "/rounds/new",
        params={
            "preview": "1",
            "drill": "1",
            "reason": "manual",
            "region_id": str(area.region.id),
            "deadline_hours": "72",
        },
    )
    assert page.status_code == 200
    html = page.text
    assert "3 人" in html.split('id="pv-people"')[1][:40]
    assert "2 通" in html.split('id="pv-messages"')[1][:40]
    assert "1 人" in html.split('id="pv-no-contact"')[1][:40]
    assert "セグメント" in html and "1通 2 セグメント、計 4" in html
    assert "約1秒" in html.split('id="pv-time"')[1][:60]  # 2 messages at 10 a second
    assert "【訓練】" in html.split('class="sms-sample"')[1][:80]
    assert session.exec(select(SafetyRound)).all() == []  # a preview starts nothing

    narrowed = officer.get(
        "/rounds/new",
        params={"preview": "1", "region_id": str(area.region.id), "therapy": "ventilator", "risk_tier": "critical"},
    ).text
    assert "1 人" in narrowed.split('id="pv-people"')[1][:40]


def test_preview_without_area_says_what_is_missing(browser_as, area):
    officer = browser_as("prefecture", area.prefecture.id)
    page = officer.get("/rounds/new", params={"preview": "1", "prefecture_id": ""})
    assert page.status_code == 422
    assert "対象の地域を選んでください" in page.text and 'id="confirm-form"' not in page.text


def test_hub_cannot_pick_a_region_it_is_not_designated_for(browser_as, session, area):
    from tests.factories import create_region

    other = create_region(session, area.prefecture, [area.town])
    hub = browser_as("hub", area.hub.id)
    page = hub.get("/rounds/new", params={"preview": "1", "region_id": str(other.id)})
    assert page.status_code == 422 and "選べない在宅医療圏" in page.text
    assert "全体</label>" not in hub.get("/rounds/new").text  # no prefecture-wide choice for a hub


def test_start_drill_then_close_from_pages(browser_as, session, area):
    add_patient(session, area.city)
    add_patient(session, area.city)
    officer = browser_as("prefecture", area.prefecture.id)
    preview = officer.get(
        "/rounds/new", params={"preview": "1", "region_id": str(area.region.id), "title": "訓練 地震"}
    ).text
    form = {
        "csrf_token": _csrf(preview),
        "idempotency_key": _key(preview),
        "drill": "1",
        "reason": "manual",
        "title": "訓練 地震",
        "deadline_hours": "72",
        "prefecture_id": "",
        "region_id": str(area.region.id),
    }
    without_csrf = officer.post("/rounds", data={**form, "csrf_token": "wrong"}, follow_redirects=False)
    assert without_csrf.status_code == 403
    started = officer.post("/rounds", data=form, follow_redirects=False)
    assert started.status_code == 303
    round_id = int(re.search(r"/rounds/(\d+)", started.headers["location"]).group(1))
    again = officer.post("/rounds", data=form, follow_redirects=False)  # a double tap
    assert again.headers["location"].startswith(f"/rounds/{round_id}")
    assert len(session.exec(select(SafetyRound)).all()) == 1
    safety_round = session.get(SafetyRound, round_id)
    assert safety_round.drill and safety_round.target_count == 2 and safety_round.title == "訓練 地震"
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "round.start")).first() is not None

    page = officer.get(f"/rounds/{round_id}").text
    assert "【訓練】これは訓練です" in page and f'href="/board/rounds/{round_id}"' in page
    assert "0</strong> / 2 人が回答" in page and 'id="close-form"' in page
    assert "看護師の確認待ち（連絡不能）: 0 人" in page

    # Closing asks first and says what stops (issue 27.7): without the ticked box nothing closes.
    assert "未回答の <strong>2</strong> 人への再送" in page and 'name="confirm_close"' in page
    unconfirmed = officer.post(f"/rounds/{round_id}/close", data={"csrf_token": _csrf(page)}, follow_redirects=False)
    assert unconfirmed.status_code == 303 and "unconfirmed=1" in unconfirmed.headers["location"]
    session.refresh(safety_round)
    assert safety_round.state == "running"
    assert "まだ終了していません" in officer.get(unconfirmed.headers["location"]).text
    closed = officer.post(
        f"/rounds/{round_id}/close", data={"csrf_token": _csrf(page), "confirm_close": "yes"}, follow_redirects=False
    )
    assert closed.status_code == 303
    session.refresh(safety_round)
    assert safety_round.state == "closed"
    after = officer.get(closed.headers["location"]).text
    assert "安否確認を終了しました" in after and 'id="close-form"' not in after


def test_real_round_needs_the_confirmation_box(browser_as, session, area):
    add_patient(session, area.city)
    officer = browser_as("prefecture", area.prefecture.id)
    preview = officer.get("/rounds/new", params={"preview": "1", "drill": "0", "region_id": str(area.region.id)}).text
    assert "本番の安否確認を開始する" in preview
    form = {
        "csrf_token": _csrf(preview),
        "idempotency_key": _key(preview),
        "drill": "0",
        "reason": "disaster",
        "deadline_hours": "24",
        "region_id": str(area.region.id),
    }
    refused = officer.post("/rounds", data=form, follow_redirects=False)
    assert refused.status_code == 422 and "確認の欄にチェック" in refused.text
    assert session.exec(select(SafetyRound)).all() == []
    assert officer.post("/rounds", data={**form, "confirm_real": "yes"}, follow_redirects=False).status_code == 303
    assert session.exec(select(SafetyRound)).one().drill is False


def test_round_page_shows_escalation_timeline(browser_as, session, scene):
    checks = list(scene.checks.values())[:3]
    now = utcnow()
    for check in checks:
        session.add(
            CheckEvent(
                check_id=check.id,
                round_id=scene.round.id,
                kind="escalation",
                step=1,
                action="resend",
                at=now,
                messages=1,
                actor_name="system",
            )
        )
    session.add(
        CheckEvent(
            check_id=checks[0].id,
            round_id=scene.round.id,
            kind="escalation",
            step=4,
            action="unreachable",
            at=now,
            messages=0,
            actor_name="system",
        )
    )
    session.flush()
    page = browser_as("admin").get(f"/rounds/{scene.round.id}").text
    timeline = page.split('id="timeline"')[1].split("</table>")[0]
    assert "第1段階 再送" in timeline and "第4段階 連絡不能（看護師へ）" in timeline
    assert re.search(r'data-action="resend">.*?>3</td>', timeline, re.S)


def test_aggregate_sees_the_list_and_counts_but_cannot_start(browser_as, scene):
    viewer = browser_as("aggregate")
    assert "新しい安否確認を開始" not in viewer.get("/rounds").text
    assert viewer.get(f"/rounds/{scene.round.id}").status_code == 200
    assert viewer.get("/rounds/new", follow_redirects=False).status_code == 403


def test_empty_board_links_starters_to_new_round(browser_as):
    assert 'href="/rounds/new"' in browser_as("prefecture", 1).get("/board").text
    assert 'href="/rounds/new"' not in browser_as("institution", 1).get("/board").text


def test_start_an_advance_notice_from_the_page(browser_as, session, area):
    add_patient(session, area.city)
    officer = browser_as("prefecture", area.prefecture.id)
    assert 'value="advance_notice"' in officer.get("/rounds/new").text
    preview = officer.get(
        "/rounds/new",
        params={
            "preview": "1",
            "region_id": str(area.region.id),
            "kind": "advance_notice",
            "title": "台風10号に備えて",
        },
    ).text
    sample = preview.split('class="sms-sample"')[1][:120]
    assert "【事前連絡】" in sample and "安否確認" not in sample
    assert 'name="kind" value="advance_notice"' in preview.split('id="confirm-form"')[1]
    form = {
        "csrf_token": _csrf(preview),
        "idempotency_key": _key(preview),
        "drill": "1",
        "reason": "manual",
        "title": "台風10号に備えて",
        "deadline_hours": "48",
        "region_id": str(area.region.id),
        "kind": "advance_notice",
    }
    bad = officer.post("/rounds", data={**form, "kind": "party"}, follow_redirects=False)
    assert bad.status_code == 422 and "安否確認か事前連絡かを選んでください" in bad.text
    assert session.exec(select(SafetyRound)).all() == []
    started = officer.post("/rounds", data=form, follow_redirects=False)
    assert started.status_code == 303
    assert session.exec(select(SafetyRound)).one().kind == "advance_notice"


def test_round_page_shows_each_tiers_ladder_as_it_will_run(browser_as, scene):
    """Issue 25.4: the page showed only one ladder while the critical tier resends at +3 min."""
    page = browser_as("admin").get(f"/rounds/{scene.round.id}").text
    ladder = page.split('id="escalation"')[1].split("<h3>経過</h3>")[0]
    critical = ladder.split('data-tier="critical"')[1].split("</ol>")[0]
    standard = ladder.split('data-tier="standard"')[1].split("</ol>")[0]
    assert "（3分後）" in critical and "（15分後）" in standard and 'data-tier="high"' in ladder
    assert 'id="quiet-hours"' not in page  # an emergency round escalates at any hour
