"""A restored round says so on the round page and on the board (issue 28 item 3)."""

from __future__ import annotations

from datetime import timedelta

from bcp_service.models import RoundRestore
from bcp_service.models.base import utcnow
from tests.board.builders import build_round


def test_round_page_and_board_show_the_restore(client, session, settings):
    scene = build_round(session, settings)
    for path in (f"/rounds/{scene.round.id}", f"/board/rounds/{scene.round.id}"):
        assert 'id="restore-status"' not in client.get(path).text
    session.add(
        RoundRestore(
            round_id=scene.round.id,
            backup_taken_at=utcnow() - timedelta(minutes=30),
            suppressed=7,
            possibly_missing=[{"check_id": 41, "why": "provider_sent", "at": utcnow().isoformat()}],
        )
    )
    session.flush()
    for path in (f"/rounds/{scene.round.id}", f"/board/rounds/{scene.round.id}"):
        page = client.get(path)
        assert page.status_code == 200
        banner = page.text.split('id="restore-status"')[1].split("</div>")[0]
        assert "バックアップ" in banner and "確認番号 41" in banner and "7 件は再送していません" in banner
