"""``bcp-service db``: the schema is built only by Alembic migrations."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from bcp_service import migrations
from bcp_service.config import get_settings
from bcp_service.db import make_engine
from bcp_service.timeutil import local

app = typer.Typer(help="データベースのマイグレーション (database migrations)", no_args_is_help=True)
console = Console()


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("heads", help="target revision")) -> None:
    """Apply migrations up to REVISION (default: all heads)."""
    engine = make_engine(get_settings().database_url)
    migrations.upgrade(engine, revision)
    console.print(f"[green]migrated[/green] {engine.url.render_as_string(hide_password=True)} → {sorted(migrations.current_heads(engine))}")


@app.command("current")
def current() -> None:
    """Show the revision the database is at."""
    engine = make_engine(get_settings().database_url)
    console.print(sorted(migrations.current_heads(engine)) or "(empty database)")


# ops: backups and restore (docs/deployment.md, "Backups and restore").
@app.command("backup")
def backup_command(path: Path = typer.Argument(..., help="バックアップファイル（既にあるファイルは上書きしません）")) -> None:
    """Back up the database while the service runs (SQLite online backup; PostgreSQL pg_dump -Fc)."""
    from bcp_service.ops.backup import BackupError, backup

    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        info = backup(engine, path, pg_dump=settings.pg_dump_path)
    except BackupError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"[green]バックアップしました[/green] {path}（取得時刻 {local(info.taken_at):%Y-%m-%d %H:%M:%S %Z}、{info.engine}）")


@app.command("restore")
def restore_command(
    path: Path = typer.Argument(..., help="bcp-service db backup で作ったファイル"),
    force: bool = typer.Option(False, "--force", help="動いているワーカー・スケジューラがあっても戻す"),
    skip_provider: bool = typer.Option(False, "--skip-provider",
                                       help="送信業者の記録を読まずに戻す（再送の重複を防げません）"),
) -> None:
    """Restore a backup, then reconcile with the provider's record and mark each open round as restored."""
    from bcp_service.ops.restore_command import RestoreRefused, run_restore

    settings = get_settings()
    try:
        report = run_restore(settings, path, force=force, skip_provider=skip_provider)
    except RestoreRefused as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"[green]復元しました[/green] バックアップ取得時刻 {local(report.backup_taken_at):%Y-%m-%d %H:%M:%S %Z}")
    console.print(f"送信業者の記録 {report.provider_records} 件を照合し、送信済みだった {report.suppressed} 件は再送しません。")
    for round_id, marker in sorted(report.rounds.items()):
        ids = ", ".join(str(item["check_id"]) for item in marker.possibly_missing) or "なし"
        console.print(f"ラウンド {round_id}: 復元の印を付けました。回答が失われた可能性のある確認（check id）: {ids}")
    if not report.rounds:
        console.print("実施中のラウンドはありません。")
