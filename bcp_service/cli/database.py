"""``bcp-service db``: the schema is built only by Alembic migrations."""

from __future__ import annotations

import typer
from rich.console import Console

from bcp_service import migrations
from bcp_service.config import get_settings
from bcp_service.db import make_engine

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
