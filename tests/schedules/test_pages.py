"""Schedule pages: create (errors next to the field, nothing lost), next and missed firings, pause, resume."""

from __future__ import annotations

import re

from sqlmodel import select

from bcp_service.models import AuditEvent, RoundSchedule, ScheduleFiring
from tests.board.conftest import browser_as  # noqa: F401  (fixture)
from tests.rounds.conftest import area  # noqa: F401  (fixture)
from tests.schedules.conftest import utc


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_create_pause_resume_and_missed_firings(browser_as, session, area):
    officer = browser_as("prefecture", area.prefecture.id)
    page = officer.get("/schedules")
    assert page.status_code == 200 and "定期の安否確認はまだありません" in page.text
    form = {
        "csrf_token": _csrf(page.text),
        "name": "毎月の訓練",
        "kind": "cron",
        "cron": "0 10 1 * *",
        "drill": "1",
        "deadline_hours": "24",
        "region_id": str(area.region.id),
        "therapy": "ventilator",
    }
    created = officer.post("/schedules", data=form, follow_redirects=False)
    assert created.status_code == 303
    schedule = session.exec(select(RoundSchedule)).one()
    assert schedule.cron == "0 10 1 * *" and schedule.drill and schedule.target["region_ids"] == [area.region.id]
    assert schedule.target["therapies"] == ["ventilator"] and schedule.deadline_hours == 24
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "schedule.create")).first() is not None

    session.add(
        ScheduleFiring(schedule_id=schedule.id, fire_time=utc(2030, 1, 1, 1), outcome="missed", instance_id="test")
    )
    session.flush()
    html = officer.get(created.headers["location"]).text
    card = html.split(f'id="s{schedule.id}"')[1].split("</article>")[0]
    assert "毎月の訓練" in card and "人工呼吸器" in card and "有効" in card
    assert "1 回（01/01 10:00）" in card  # missed, shown in Japan time
    assert re.search(r"\d\d/01 10:00", card.split('class="next-fires"')[1])  # next: the 1st of a month, 10:00

    paused = officer.post(f"/schedules/{schedule.id}/pause", data={"csrf_token": _csrf(html)}, follow_redirects=False)
    assert paused.status_code == 303
    session.refresh(schedule)
    assert schedule.active is False
    card = officer.get("/schedules").text.split(f'id="s{schedule.id}"')[1].split("</article>")[0]
    assert "停止中" in card and "再開" in card
    officer.post(f"/schedules/{schedule.id}/resume", data={"csrf_token": _csrf(html)})
    session.refresh(schedule)
    assert schedule.active is True


def test_bad_timing_is_shown_next_to_the_field_and_keeps_the_form(browser_as, session, area):
    officer = browser_as("prefecture", area.prefecture.id)
    csrf = _csrf(officer.get("/schedules").text)
    too_often = officer.post(
        "/schedules",
        data={
            "csrf_token": csrf,
            "name": "頻繁すぎ",
            "kind": "interval",
            "interval_hours": "0.5",
            "region_id": str(area.region.id),
        },
    )
    assert too_often.status_code == 400 or too_often.status_code == 422
    assert "60分より短い間隔" in too_often.text and 'value="頻繁すぎ"' in too_often.text
    nonsense = officer.post(
        "/schedules",
        data={"csrf_token": csrf, "name": "x", "kind": "cron", "cron": "every day", "region_id": str(area.region.id)},
    )
    assert nonsense.status_code == 422 and "crontab" in nonsense.text
    no_area = officer.post("/schedules", data={"csrf_token": csrf, "name": "x", "kind": "cron", "cron": "0 10 1 * *"})
    assert no_area.status_code == 422 and "対象の地域を選んでください" in no_area.text
    assert session.exec(select(RoundSchedule)).all() == []


def test_other_scopes_schedules_are_not_shown_or_paused(browser_as, session, area):
    officer = browser_as("prefecture", area.prefecture.id)
    csrf = _csrf(officer.get("/schedules").text)
    officer.post(
        "/schedules",
        data={
            "csrf_token": csrf,
            "name": "県の訓練",
            "kind": "cron",
            "cron": "0 10 1 * *",
            "prefecture_id": str(area.prefecture.id),
        },
    )
    schedule = session.exec(select(RoundSchedule)).one()
    assert schedule.target == {"prefecture_id": area.prefecture.id}
    hub = browser_as("hub", area.hub.id)
    hub_page = hub.get("/schedules").text
    assert "県の訓練" not in hub_page
    assert hub.post(f"/schedules/{schedule.id}/pause", data={"csrf_token": _csrf(hub_page)}).status_code == 404
