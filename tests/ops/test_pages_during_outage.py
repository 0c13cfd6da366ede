"""Pages stay up to say so (issue 28.2): with the database refusing writes (a real fault: SQLite
``query_only``, PostgreSQL ``default_transaction_read_only``), the board renders with its "database
cannot be written" banner; the audit row of who saw whom is kept (audit/deferred.py) and joins the
chain once the database writes again."""

from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from bcp_service import db_outage
from bcp_service.audit import deferred
from bcp_service.audit.chain import verify
from bcp_service.models import AuditEvent
from tests.board.builders import build_round


@pytest.fixture
def committed_round(engine, settings, committed_admin):
    with Session(engine) as session:
        scene = build_round(session, settings)
        session.commit()
        return scene.round.id


@pytest.fixture(autouse=True)
def clean_state():
    db_outage.database_wrote()
    yield
    db_outage.database_wrote()


def _audit_rows(engine, action: str) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)).one()


def test_the_board_renders_during_a_write_outage_and_its_audit_row_is_kept(
    engine, faulty_client, working_client, committed_round
):
    page = faulty_client.get(f"/board/rounds/{committed_round}")
    assert page.status_code == 200, page.text[:500]
    assert 'id="database-status"' in page.text and "データベースに書き込めません" in page.text
    assert "呼吸器 停電" in page.text  # identities shown to the admin: their viewing is recorded, later
    assert _audit_rows(engine, "board.view") == 0
    (kept,) = deferred.pending()
    assert Path(kept).parent == deferred.directory() and oct(kept.stat().st_mode & 0o777) == "0o600"
    assert faulty_client.get("/board").status_code == 200

    # The database writes again: /healthz appends the kept row to the chain, which still verifies.
    assert working_client.get("/healthz").status_code == 200
    assert deferred.pending() == [] and _audit_rows(engine, "board.view") == 1
    with Session(engine) as session:
        assert verify(session).broken_id is None


def test_no_place_to_keep_the_row_fails_the_page_as_before(faulty_client, committed_round, tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a directory")
    previous = deferred.directory()
    deferred.configure(blocked)
    try:
        page = faulty_client.get(f"/board/rounds/{committed_round}")
        # An error page (503 on SQLite; PostgreSQL's read-only refusal is no outage: 500), never the people.
        assert page.status_code in (500, 503) and "呼吸器 停電" not in page.text
    finally:
        deferred.configure(previous)
