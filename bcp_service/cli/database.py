"""``bcp-service db``: the schema is built only by Alembic migrations."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from rich.console import Console
from sqlalchemy import Engine, text

from bcp_service import migrations
from bcp_service.config import get_settings
from bcp_service.db import make_engine
from bcp_service.errors import ServiceError
from bcp_service.timeutil import local

app = typer.Typer(help="データベースのマイグレーション (database migrations)", no_args_is_help=True)
console = Console()
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@app.command("upgrade")
def upgrade(
    revision: str = typer.Argument("heads", help="target revision"),
    service_role: str = typer.Option(
        "",
        "--service-role",
        help="PostgreSQL: the login role the service connects as "
        "(created or updated, password BCP_DATABASE_SERVICE_PASSWORD, member of bcp_app)",
    ),
) -> None:
    """Apply migrations up to REVISION (default: all heads), as the database admin."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    migrations.upgrade(engine, revision)
    console.print(
        f"[green]migrated[/green] {engine.url.render_as_string(hide_password=True)} → {sorted(migrations.current_heads(engine))}"
    )
    if service_role:
        grant_service_role(engine, service_role, settings.database_service_password.get_secret_value())
        console.print(f"サービス用ロール {service_role} を設定しました（監査ログは追記と参照のみ）")


def grant_service_role(engine: Engine, name: str, password: str) -> None:
    """A login role in ``bcp_app`` (alembic 0019_audit), never a superuser, owner or role creator."""
    if engine.dialect.name != "postgresql":
        raise ServiceError("--service-role は PostgreSQL でのみ使えます")
    if not ROLE_NAME.fullmatch(name) or name in {"bcp_app", "bcp_audit_owner"}:
        raise ServiceError(f"ロール名 {name!r} は使えません（英小文字・数字・_ で、bcp_app / bcp_audit_owner 以外）")
    with engine.begin() as connection:
        exists = connection.execute(
            text("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = :n"), {"n": name}
        ).first()
        if exists and exists[0]:
            raise ServiceError(
                f"ロール {name} は superuser か CREATEROLE を持っています。サービスには権限の少ないロールを使ってください"
            )
        if exists and name == connection.execute(text("SELECT current_user")).scalar():
            raise ServiceError("マイグレーションを実行しているロール自身はサービス用ロールにできません")
        verb = "ALTER" if exists else "CREATE"
        secret = connection.execute(text("SELECT quote_literal(:p)"), {"p": password}).scalar() if password else "NULL"
        connection.exec_driver_sql(
            f"{verb} ROLE {name} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT PASSWORD {secret}"
        )
        connection.exec_driver_sql(f"GRANT bcp_app TO {name}")


@app.command("current")
def current() -> None:
    """Show the revision the database is at."""
    engine = make_engine(get_settings().database_url)
    console.print(sorted(migrations.current_heads(engine)) or "(empty database)")


# ops: backups and restore (docs/deployment.md, "Backups and restore").
@app.command("backup")
def backup_command(
    path: Path = typer.Argument(..., help="バックアップファイル（既にあるファイルは上書きしません）"),
) -> None:
    """Back up the database while the service runs (SQLite online backup; PostgreSQL pg_dump -Fc)."""
    from bcp_service.ops.backup import BackupError, backup

    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        info = backup(engine, path, pg_dump=settings.pg_dump_path)
    except BackupError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(
        f"[green]バックアップしました[/green] {path}（取得時刻 {local(info.taken_at):%Y-%m-%d %H:%M:%S %Z}、{info.engine}）"
    )


@app.command("restore")
def restore_command(
    path: Path = typer.Argument(..., help="bcp-service db backup で作ったファイル"),
    force: bool = typer.Option(False, "--force", help="動いているワーカー・スケジューラがあっても戻す"),
    skip_provider: bool = typer.Option(
        False, "--skip-provider", help="送信業者の記録を読まずに戻す（再送の重複を防げません）"
    ),
) -> None:
    """Restore a backup, then reconcile with the provider's record and mark each open round as restored."""
    from bcp_service.ops.restore_command import RestoreRefused, run_restore

    settings = get_settings()
    try:
        report = run_restore(settings, path, force=force, skip_provider=skip_provider)
    except RestoreRefused as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(
        f"[green]復元しました[/green] バックアップ取得時刻 {local(report.backup_taken_at):%Y-%m-%d %H:%M:%S %Z}"
    )
    console.print(
        f"送信業者の記録 {report.provider_records} 件を照合し、送信済みだった {report.suppressed} 件は再送しません。"
    )
    for round_id, marker in sorted(report.rounds.items()):
        ids = ", ".join(str(item["check_id"]) for item in marker.possibly_missing) or "なし"
        console.print(f"ラウンド {round_id}: 復元の印を付けました。回答が失われた可能性のある確認（check id）: {ids}")
    if not report.rounds:
        console.print("実施中のラウンドはありません。")
