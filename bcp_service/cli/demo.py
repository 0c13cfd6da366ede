"""``serve``, ``demo`` and ``seed``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer
import uvicorn
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bcp_service import migrations
from bcp_service.cli.demo_process import RoundProgress, handle_stop_signals, log_to_file, port_in_use
from bcp_service.cli.demo_sending import demo_sending_env, print_round_help, start_demo_sending, stop_demo_sending
from bcp_service.config import Settings, get_settings
from bcp_service.db import make_engine, make_session_factory
from bcp_service.demo.accounts import create_demo_accounts, demo_password
from bcp_service.demo.chiba import load_chiba
from bcp_service.demo.synthetic import seed_patients
from bcp_service.logs import configure_logging

console = Console()
# uvicorn closes an idle keep-alive connection after 5 s by default, the same idle time after which
# common clients (httpx, aiohttp: the simulator; proxies) stop reusing one. A client that reuses a
# connection just as the server closes it gets "server disconnected" for a request the app never saw:
# 4 of 7,300 of the soak's delivery receipts (load_tests/RESULTS.md, "SQLite soak"). The server keeps
# idle connections longer than any client does, so it is always the client that closes them.
KEEP_ALIVE_SECONDS = 75


def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port"),
    workers: int = typer.Option(1, help="number of API processes"),
) -> None:
    """Serve the API and pages (the database must be migrated: bcp-service db upgrade)."""
    settings = get_settings()
    configure_logging(settings.log_level)
    # proxy_headers=False: uvicorn would believe X-Forwarded-For from 127.0.0.1; the app believes only
    # BCP_TRUSTED_PROXIES (issue 23).
    uvicorn.run(
        "bcp_service.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        proxy_headers=False,
    )


def _seed_with_progress(engine, count: int, seed: int, prefecture_id: int | None = None) -> float:
    started = time.perf_counter()
    with Progress(
        TextColumn("患者データ投入"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("seed", total=count)
        seed_patients(engine, count, seed=seed, progress=lambda n: bar.advance(task, n), prefecture_id=prefecture_id)
    return time.perf_counter() - started


def seed(
    patients: int = typer.Option(3000, "--patients", min=0, help="synthetic patients to add"),
    random_seed: int = typer.Option(42, "--seed", help="random seed"),
) -> None:
    """Fill the configured database (SQLite or PostgreSQL) with the Chiba structure and synthetic patients."""
    engine = make_engine(get_settings().database_url)
    migrations.upgrade(engine)
    with make_session_factory(engine)() as session:
        structure = load_chiba(session)
        session.commit()
    elapsed = _seed_with_progress(engine, patients, random_seed, structure.prefecture_id)
    console.print(f"[green]{patients:,} patients in {elapsed:.1f} s[/green] ({engine.dialect.name})")


def demo(
    patients: int = typer.Option(3000, "--patients", min=0, help="synthetic patients"),
    port: int = typer.Option(8000, "--port", help="port on 127.0.0.1"),
    data_dir: Path = typer.Option(Path("data"), help="where the demo database is written"),
    no_serve: bool = typer.Option(False, "--no-serve", help="build the database and exit"),
    sim_port: int = typer.Option(8099, "--sim-port", help="port of the Twilio simulator the demo sends through"),
    answer_rate: float = typer.Option(
        0.6, "--answer-rate", help="share of demo messages the simulator answers by link"
    ),
    answer_speed: float = typer.Option(
        1.0,
        "--answer-speed",
        min=0.01,
        help="compress the simulated answers' curve (mode 2 minutes, long tail); 10 = ten times faster",
    ),
) -> None:
    """Build a fresh SQLite demo database with the Chiba data and serve it on localhost.

    The demo also runs the Twilio simulator, a sender (bcp-service worker) and the scheduler
    (bcp-service scheduler), so a round started here really goes out: messages reach the simulator,
    delivery statuses and simulated answers come back through the signed webhooks, and unanswered
    checks are escalated (resend, family, call, unreachable).
    """
    busy = [p for p in (port, sim_port) if not no_serve and port_in_use(p)]
    if busy:
        console.print(
            f"[red]ポート {', '.join(map(str, busy))} は既に使われています。[/red]別のデモが動いていないか確認するか、"
            "--port / --sim-port で空いているポートを指定してください。",
            highlight=False,
        )
        raise typer.Exit(1)
    database = data_dir / "demo.sqlite3"
    log_path = data_dir / "demo.log"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{database}"
    os.environ["BCP_DATABASE_URL"] = url
    os.environ.setdefault("BCP_PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    for key, value in demo_sending_env(sim_port).items():
        os.environ.setdefault(key, value)
    # The demo accounts sign in with a password only (issue 23.2); set BCP_REQUIRE_TWO_FACTOR=1 to try enrolment.
    os.environ.setdefault("BCP_REQUIRE_TWO_FACTOR", "false")
    get_settings.cache_clear()
    settings = Settings()
    log_path.unlink(missing_ok=True)
    log_to_file(log_path, settings.log_level)
    engine = make_engine(url)
    migrations.upgrade(engine)
    with make_session_factory(engine)() as session:
        structure = load_chiba(session)
        accounts = create_demo_accounts(session)
        session.commit()
    _seed_with_progress(engine, patients, 42, structure.prefecture_id)
    base = f"http://127.0.0.1:{port}"
    console.print(f"\n[bold]bcp-service デモ[/bold]  database: {database}")
    console.print(
        f"  [bold]安否確認ボード (status board): {base}/login?next=/board[/bold]  ← chiba-pref / chiba-pref-demo-pass",
        soft_wrap=True,
        highlight=False,
    )
    console.print(
        f"  看護師ページ (nurses, phone):  {base}/login?next=/nurse  ← chiba-nurse / chiba-nurse-demo-pass",
        soft_wrap=True,
        highlight=False,
    )
    console.print(
        f"  BCP 作成支援 (BCP drafts):     {base}/  ← chiba-hub / chiba-hub-demo-pass", soft_wrap=True, highlight=False
    )
    console.print(f"  API 文書 (OpenAPI): {base}/docs", highlight=False)
    console.print(f"  空白圏域:           {base}/api/v1/coverage-gaps", highlight=False)
    table = Table(title="デモ用アカウント (demo accounts)", title_justify="left")
    rows = [(username, demo_password(username), str(role), label) for username, role, _scope_id, label in accounts]
    for n, column in enumerate(("username", "password", "role")):
        # Never cut a name or password short, however narrow the terminal: the scope column wraps instead.
        table.add_column(column, no_wrap=True, min_width=max(len(r[n]) for r in rows))
    table.add_column("scope", overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    print_round_help(
        base, database, sim_port=sim_port, answer_rate=answer_rate, answer_speed=answer_speed, log_path=log_path
    )
    if no_serve:
        return
    handle_stop_signals()
    helpers: list = []
    progress = None
    try:
        helpers = start_demo_sending(base, sim_port, answer_rate, answer_speed=answer_speed, log_path=log_path)
        console.print(
            "[bold]実行中の安否確認 (running rounds)[/bold]: ラウンドを始めると、ここに 1 行ずつ進み具合が出ます。",
            soft_wrap=True,
        )
        progress = RoundProgress(url, console).start()
        # A few seconds for open connections (the board's live stream) at a stop, then they are closed.
        uvicorn.run(
            "bcp_service.asgi:app",
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=3,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            proxy_headers=False,
        )
    finally:
        if progress is not None:
            progress.stop()
        stop_demo_sending(helpers)
        console.print("デモを停止しました。")
