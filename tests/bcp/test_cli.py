"""``bcp-service bcp draft`` against a temporary SQLite database seeded with the Chiba demo."""

import io

import docx
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from bcp_service.cli import app
from bcp_service.config import get_settings
from bcp_service.db import make_engine, make_session_factory
from bcp_service.models import AuditEvent, BcpDraft, Designation, Institution


@pytest.fixture
def cli_db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("BCP_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_draft_command_writes_docx_and_audits(cli_db, tmp_path):
    runner = CliRunner()
    assert runner.invoke(app, ["seed", "--patients", "300"]).exit_code == 0
    factory = make_session_factory(make_engine(cli_db))
    with factory() as session:
        active_id = session.exec(
            select(Institution.id)
            .join(Designation, Designation.institution_id == Institution.id)
            .where(Designation.kind == "active_institution")
            .order_by(Institution.id)
        ).first()

    out = tmp_path / "draft.docx"
    result = runner.invoke(app, ["bcp", "draft", str(active_id), "--out", str(out), "--save"])

    assert result.exit_code == 0, result.output
    document = docx.Document(io.BytesIO(out.read_bytes()))
    assert any(p.style.name == "Title" and "業務継続計画" in p.text for p in document.paragraphs)
    with factory() as session:
        draft = session.exec(select(BcpDraft)).one()
        assert (draft.institution_id, draft.version, draft.plan_kind) == (active_id, 1, "active_institution")
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "bcp_draft.cli_export")).one()
        assert event.patient_count == len(draft.patient_ids) and event.user_id is None
    assert runner.invoke(app, ["bcp", "draft", str(active_id), "--out", str(out), "--plan-kind", "nope"]).exit_code == 2
