import re
from datetime import UTC

from sqlmodel import select

from bcp_service.models import AuditEvent, AuditEventPatient


def _audited(session, action):
    event = session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id.desc())).first()
    ids = (
        set(session.exec(select(AuditEventPatient.patient_id).where(AuditEventPatient.event_id == event.id)).all())
        if event
        else set()
    )
    return event, ids


def test_board_shows_counts_priority_silent_feed_and_drill_label(client, session, scene):
    page = client.get(f"/board/rounds/{scene.round.id}")
    assert page.status_code == 200
    html = page.text
    assert "【訓練】これは訓練です" in html and "board-drill" in html
    assert 'src="/static/board.js"' in html and "https://" not in html.split("<main>")[0]
    counts = dict(re.findall(r'data-state="(\w+)">([\d,]+)<', html))
    assert counts == {
        "safe": "1",
        "needs_help": "1",
        "power_out": "2",
        "needs_transport": "1",
        "no_answer": "3",
        "admitted": "0",
        "evacuated": "0",
        "unreachable": "0",
        "delivery_failed": "0",
    }
    priority = html.split('id="sec-priority"')[1].split("</section>")[0]
    # Hours to harm lead (rounds.triage): the oxygen users who did not say their hours count as zero,
    # before the ventilator users with 2.5 h and 6 h of battery.
    assert (
        priority.index("酸素 要支援")
        < priority.index("搬送 必要")
        < priority.index("呼吸器 停電<")
        < priority.index("呼吸器 停電長")
    )
    assert "2.5時間" in priority and "不明" in priority and "登録の目安 4時間" in priority
    # Rows to act on: tap to call, address, who is responsible, a link to the check.
    assert (
        'href="tel:+81' in priority
        and "訪問看護:" in priority
        and f"/checks/{scene.checks['vent_dark'].id}" in priority
    )
    silent = html.split('id="sec-silent"')[1].split("</section>")[0]
    assert silent.index("未回答 重症") < silent.index("未回答 標準")
    feed = html.split('id="feed"')[1].split("</ol>")[0]
    assert feed.count("<li") == 5 and "無事 太郎" in feed
    assert "市町村" in html and 'class="tile ' in html
    event, ids = _audited(session, "board.view")
    assert event is not None and scene.people.vent_dark.id in ids and scene.people.silent_standard.id in ids
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_board_index_lists_rounds_with_drill_label(client, scene):
    page = client.get("/board")
    assert page.status_code == 200 and "【訓練】" in page.text and f"/board/rounds/{scene.round.id}" in page.text


def test_hub_sees_only_its_area(client_as, scene):
    hub = client_as("hub", scene.area.hub.id)
    html = hub.get(f"/board/rounds/{scene.round.id}").text
    assert "隣町 花子" not in html and "呼吸器 停電" in html
    counts = dict(re.findall(r'data-state="(\w+)">([\d,]+)<', html))
    assert counts["no_answer"] == "2"  # the town's patient is outside the hub's area


def test_nurse_station_sees_its_patients(client_as, scene):
    other = client_as("nurse", scene.area.other_station.id)
    html = other.get(f"/board/rounds/{scene.round.id}").text
    assert "隣町 花子" in html and "呼吸器 停電" not in html
    assert dict(re.findall(r'data-state="(\w+)">([\d,]+)<', html))["no_answer"] == "1"


def test_aggregate_sees_counts_only(client_as, session, scene):
    viewer = client_as("aggregate")
    page = viewer.get(f"/board/rounds/{scene.round.id}")
    assert page.status_code == 200
    for person in vars(scene.people).values():
        assert person.name not in page.text
    assert 'id="sec-priority"' not in page.text and 'id="feed"' not in page.text
    assert "集計閲覧の権限では人数のみ" in page.text
    assert "少数のため非表示" in page.text  # 8 people in the round: every area cell is under the minimum
    assert viewer.get(f"/board/rounds/{scene.round.id}/export.csv?kind=priority").status_code == 404
    areas = viewer.get(f"/board/rounds/{scene.round.id}/export.csv?kind=areas")
    assert areas.status_code == 200 and areas.content.startswith("\ufeff".encode()) and "*" in areas.text
    assert not any(person.name in areas.text for person in vars(scene.people).values())


def test_filters_narrow_counts_and_lists(client, scene):
    html = client.get(f"/board/rounds/{scene.round.id}?therapy=ventilator&region_id=&hub_id=&risk_tier=").text
    counts = dict(re.findall(r'data-state="(\w+)">([\d,]+)<', html))
    assert counts["power_out"] == "2" and counts["needs_help"] == "0" and counts["no_answer"] == "1"
    assert "酸素 要支援" not in html.split('id="sec-priority"')[1].split("</section>")[0]
    assert "therapy=ventilator" in html  # the event stream and the print/CSV links keep the filter
    stale = client.get(f"/board/rounds/{scene.round.id}?therapy=unicorn&region_id=abc")
    assert stale.status_code == 200


def test_print_view_and_people_csv_are_audited(client, session, scene):
    printed = client.get(f"/board/rounds/{scene.round.id}/print")
    assert printed.status_code == 200 and "呼吸器 停電" in printed.text and "印刷する" in printed.text
    assert "board.js" not in printed.text
    assert _audited(session, "board.print")[0] is not None
    csv = client.get(f"/board/rounds/{scene.round.id}/export.csv?kind=priority")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("氏名,状態") and lines[1].startswith("酸素 要支援,要支援,,4.0,0.0,")
    _event, ids = _audited(session, "board.export.priority")
    assert ids == {
        scene.people.vent_dark.id,
        scene.people.vent_dark_later.id,
        scene.people.oxygen_help.id,
        scene.people.transport.id,
    }
    silent = client.get(f"/board/rounds/{scene.round.id}/export.csv?kind=silent")
    assert "未回答 重症" in silent.text
    assert client.get(f"/board/rounds/{scene.round.id}/export.csv?kind=everything").status_code == 404


def test_unknown_round_is_404_without_opening_a_stream(client):
    assert client.get("/board/rounds/987654").status_code == 404
    assert client.get("/board/rounds/987654/events").status_code == 404


def test_home_links_to_the_board(browser_as):
    assert "/board" in browser_as("prefecture", 1).get("/").text


def test_board_says_when_nothing_is_sending_or_firing(client, session, scene):
    from bcp_service.models import ServiceHeartbeat
    from bcp_service.models.base import utcnow

    html = client.get(f"/board/rounds/{scene.round.id}").text
    assert 'id="system-status"' in html
    assert "送信ワーカー：起動の記録がありません ― メッセージは送信されていません" in html
    assert "スケジューラ（定期実行・再送・電話）：起動の記録がありません" in html

    now = utcnow()
    session.add(ServiceHeartbeat(instance_id="w1", name="worker", host="h", process_id=1, started_at=now, beat_at=now))
    session.add(
        ServiceHeartbeat(instance_id="s1", name="scheduler", host="h", process_id=2, started_at=now, beat_at=now)
    )
    session.commit()
    for url in (f"/board/rounds/{scene.round.id}", "/board"):
        assert 'id="system-status"' not in client.get(url).text


def test_round_page_shows_escalation_timing_per_risk_tier(client, session, settings):
    from tests.board.builders import build_round

    scene = build_round(session, settings)  # a round without its own policy: the settings' per-tier steps
    html = client.get(f"/board/rounds/{scene.round.id}").text
    escalation = html.split('id="escalation"')[1].split("</details>")[0]
    assert "最優先" in escalation and "3分 再送" in escalation and "20分 連絡不能" in escalation
    assert "通常" in escalation and "15分 再送" in escalation


def test_board_says_since_when_the_provider_is_unavailable(client, session, scene):
    from datetime import timedelta

    from bcp_service.models import ServiceHeartbeat
    from bcp_service.models.base import utcnow

    now = utcnow()
    since = now - timedelta(minutes=3)
    session.add(
        ServiceHeartbeat(
            instance_id="w1",
            name="worker",
            host="h",
            process_id=1,
            started_at=now,
            beat_at=now,
            info={"provider_unavailable_since": since.isoformat(), "lanes_down": ["sms"]},
        )
    )
    session.commit()
    html = client.get(f"/board/rounds/{scene.round.id}").text
    shown = since.astimezone(client.app.state.settings.tz).strftime("%m/%d %H:%M:%S")
    assert 'id="provider-status"' in html and f"接続できません：{shown} から" in html


def test_board_says_which_services_wait_for_the_database(client, session, scene):
    from datetime import timedelta

    from bcp_service.models import ServiceHeartbeat
    from bcp_service.models.base import utcnow

    now = utcnow()
    since = now - timedelta(seconds=40)
    session.add(ServiceHeartbeat(instance_id="w1", name="worker", host="h", process_id=1, started_at=now, beat_at=now))
    session.add(
        ServiceHeartbeat(
            instance_id="s1",
            name="scheduler",
            host="h",
            process_id=2,
            started_at=now,
            beat_at=now,
            info={"database_waiting_since": since.isoformat()},
        )
    )
    session.commit()
    html = client.get(f"/board/rounds/{scene.round.id}").text
    shown = since.astimezone(client.app.state.settings.tz).strftime("%m/%d %H:%M:%S")
    assert 'id="system-status"' in html
    assert f"スケジューラ（定期実行・再送・電話）：データベースの復旧を待っています（{shown} から）" in html
    assert "送信ワーカー：" not in html  # live and not waiting

    session.execute(update_beat(now - timedelta(minutes=5)))  # the worker's beats stopped arriving
    session.commit()
    html = client.get("/board").text
    assert "停止しているか、データベースの復旧を待っているサービスがあります" in html
    assert "送信ワーカー：最終応答" in html and "データベースの復旧を待っている場合は、復旧後に自動で再開します" in html


def update_beat(at):
    from sqlalchemy import update

    from bcp_service.models import ServiceHeartbeat

    return update(ServiceHeartbeat).where(ServiceHeartbeat.instance_id == "w1").values(beat_at=at)


def test_board_says_when_this_api_cannot_write_to_the_database(client, monkeypatch, scene):
    from datetime import datetime

    from bcp_service import db_outage

    since = datetime(2026, 12, 2, 3, 4, 5, tzinfo=UTC)
    monkeypatch.setattr(db_outage, "waiting_since", lambda: since)
    html = client.get(f"/board/rounds/{scene.round.id}").text
    assert 'id="database-status"' in html and "データベースに書き込めません：12/02 12:04:05 から" in html
