"""`bcp-service db backup` and `db restore` as an operator runs them (SQLite file, no provider configured)."""

from __future__ import annotations

from sqlmodel import Session, func, select
from typer.testing import CliRunner

from bcp_service import migrations
from bcp_service.cli import app as cli
from bcp_service.config import get_settings
from bcp_service.db import make_engine
from bcp_service.models import AuditEvent, Prefecture


def test_backup_then_restore_from_the_command_line(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    monkeypatch.setenv("BCP_DATABASE_URL", url)
    monkeypatch.setenv("BCP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BCP_NOTIFIER", "console")
    get_settings.cache_clear()
    engine = make_engine(url)
    try:
        migrations.upgrade(engine)
        with Session(engine) as session:
            session.add(Prefecture(code="12", name="千葉県"))
            session.commit()
        runner = CliRunner()
        backup = tmp_path / "backups" / "one.backup"
        done = runner.invoke(cli, ["db", "backup", str(backup)])
        assert done.exit_code == 0, done.output
        assert (
            "バックアップしました" in done.output
            and backup.is_file()
            and (tmp_path / "backups" / "one.backup.json").is_file()
        )
        assert runner.invoke(cli, ["db", "backup", str(backup)]).exit_code == 1  # never overwrites

        with Session(engine) as session:  # activity after the backup
            session.add(Prefecture(code="13", name="東京都"))
            session.commit()
        engine.dispose()
        done = runner.invoke(cli, ["db", "restore", str(backup)])
        assert done.exit_code == 0, done.output
        assert "復元しました" in done.output and "実施中のラウンドはありません" in done.output
        with Session(engine) as session:
            assert [p.code for p in session.exec(select(Prefecture)).all()] == ["12"]
            assert (
                session.exec(
                    select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "db.restore")
                ).one()
                == 1
            )
        missing = runner.invoke(cli, ["db", "restore", str(tmp_path / "nothing.backup")])
        assert missing.exit_code == 1 and "読めません" in missing.output
    finally:
        engine.dispose()
        get_settings.cache_clear()
