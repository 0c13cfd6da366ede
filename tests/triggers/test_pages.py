"""The triggers page: why a bulletin did or did not start a round; cancel a pending start."""

from __future__ import annotations

import re
from datetime import UTC

from sqlmodel import select

from bcp_service.models import AuditEvent
from tests.board.conftest import browser_as  # noqa: F401  (fixture)
from tests.triggers.dbsetup import chiba, clock, post_bulletin, records, system  # noqa: F401  (fixtures)
from tests.triggers.helpers import CHIBA, MATSUDO, at


def test_officer_sees_decisions_and_cancels_a_pending_start(browser_as, system, session, chiba, clock):
    # The clock in UTC, as the service's own: SQLite keeps a time's wall clock and drops its offset.
    clock.now = at(10, 16, 30).astimezone(UTC)
    post_bulletin(system, "vxse51_chiba_5lower.xml")
    system.post(
        "/api/v1/triggers",
        json={
            "hazard": "earthquake",
            "municipalities": [MATSUDO],
            "severity": "6-",
            "occurred_at": "2025-03-01T10:15:00+09:00",
        },
    )
    clock.now = at(10, 17).astimezone(UTC)
    prefecture = next(iter(chiba.values())).prefecture_id
    officer = browser_as("prefecture", prefecture)
    page = officer.get("/triggers")
    assert page.status_code == 200
    html = page.text
    (record,) = [r for r in records(session) if r.state == "pending"]
    pending = html.split(f'id="p{record.id}"')[1].split("</article>")[0]
    assert (
        "送信待ち" in pending
        and "千葉市" in pending
        and "あと約3分" in pending
        and "03/01 10:19:30" in pending
        and "震度5弱" in pending
    )
    decisions = html.split('id="decisions"')[1].split("</table>")[0]
    assert "基準に達したため安否確認を予約" in decisions and "安否確認を予約" in decisions
    assert "患者登録のある市町村なし" in decisions and "開始しない" in decisions
    assert decisions.count('<td data-label="災害">地震</td>') == 2  # the hazard column, in Japanese

    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    done = officer.post(f"/triggers/events/{record.id}/cancel", data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    (after,) = [r for r in records(session) if r.id == record.id]
    assert after.state == "cancelled" and after.cancelled_by == officer.user.username
    html = officer.get(done.headers["location"]).text
    assert "送信前に中止しました" in html and "担当者が送信前に中止" in html and 'id="pending-empty"' in html
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "trigger.cancel")).first() is not None

    too_late = officer.post(f"/triggers/events/{record.id}/cancel", data={"csrf_token": csrf})
    assert too_late.status_code == 409 and "送信待ちではありません" in too_late.text


def test_only_admin_and_prefecture(browser_as):
    assert browser_as("hub", 1).get("/triggers", follow_redirects=False).status_code == 403
    assert browser_as("admin").get("/triggers").status_code == 200


def test_every_hazard_has_one_japanese_label():
    from bcp_service.labels import HAZARD_LABELS
    from bcp_service.triggers.events import Hazard

    assert set(HAZARD_LABELS) == {h.value for h in Hazard}  # one table: a new Hazard needs its label here
    assert all(label and not label.isascii() for label in HAZARD_LABELS.values())  # Japanese, never the code


def test_landslide_and_storm_surge_show_in_japanese(browser_as, system, chiba, clock):
    clock.now = at(10, 16, 30).astimezone(UTC)
    for hazard in ("landslide", "storm_surge"):
        system.post(
            "/api/v1/triggers",
            json={
                "hazard": hazard,
                "municipalities": [CHIBA],
                "severity": 4,
                "occurred_at": "2025-03-01T10:15:00+09:00",
            },
        )
    prefecture = next(iter(chiba.values())).prefecture_id
    html = browser_as("prefecture", prefecture).get("/triggers").text
    assert "土砂災害・最大 警戒レベル4" in html and "高潮・最大 警戒レベル4" in html  # the pending starts
    decisions = html.split('id="decisions"')[1].split("</table>")[0]
    assert '<td data-label="災害">土砂災害</td>' in decisions and '<td data-label="災害">高潮</td>' in decisions
    assert "landslide" not in html and "storm_surge" not in html
