"""``bcp-service audit verify``: walk the audit log's hash chain and name its first broken link."""

from __future__ import annotations

import typer
from rich.console import Console

from bcp_service.audit.chain import verify as verify_chain
from bcp_service.config import get_settings
from bcp_service.db import make_engine, make_session_factory

app = typer.Typer(help="監査ログ (audit trail)", no_args_is_help=True)
console = Console()
REASONS = {
    "mismatch": "記録の内容がハッシュと一致しません（変更された可能性があります）",
    "missing": "ハッシュのない記録があります（連鎖の外から書き込まれた可能性があります）",
}


@app.command("verify")
def verify() -> None:
    """Recompute every row's hash in id order; exit 1 at the first broken link."""
    engine = make_engine(get_settings().database_url, pool_size=1)
    try:
        with make_session_factory(engine, read_only=True)() as session:
            verdict = verify_chain(session)
    finally:
        engine.dispose()
    if not verdict.ok:
        console.print(
            f"[red]監査ログの連鎖が切れています[/red]: 記録 ID {verdict.broken_id} — {REASONS[verdict.reason or 'mismatch']}"
            f"（それまでの {verdict.checked} 件は正常）"
        )
        raise typer.Exit(code=1)
    console.print(
        f"監査ログの連鎖は正常です: {verdict.checked} 件を検証、連鎖開始前の記録 {verdict.before_chain} 件、"
        f"最後のハッシュ {verdict.last_hash}"
    )
