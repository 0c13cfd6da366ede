"""``bcp-service heartbeat check NAME``: a container health check for the worker and the scheduler.

It reads the heartbeats the processes write (``service_heartbeat``; see ``bcp_service/heartbeat.py``)
and exits 0 when an instance of NAME on this host beat
within ``BCP_HEARTBEAT_STALE_SECONDS``, 1 otherwise. In a container the host name is the
container's, so each container answers for its own process.
"""

from __future__ import annotations

import socket

import typer
from rich.console import Console

from bcp_service.config import get_settings
from bcp_service.db import make_engine, make_session_factory
from bcp_service.heartbeat import read_system_status

app = typer.Typer(
    help="バックグラウンド処理の稼働確認 (heartbeats of the worker and the scheduler)", no_args_is_help=True
)
console = Console()


@app.command("check")
def check(
    name: str = typer.Argument(..., help="component: worker, scheduler, feeds or api"),
    any_host: bool = typer.Option(False, "--any-host", help="alive on any host, not only this one"),
) -> None:
    """Exit 0 when NAME has beaten recently on this host (any host with --any-host), else 1."""
    settings = get_settings()
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with make_session_factory(engine)() as session:
            status = read_system_status(session=session, stale_after_seconds=settings.heartbeat_stale_seconds)
    finally:
        engine.dispose()
    component = next((c for c in status.components if c.name == name), None)
    host = socket.gethostname()
    alive = [
        i
        for i in (component.instances if component else [])
        if i.alive and (any_host or host.startswith(i.host) or i.host.startswith(host))
    ]
    if not alive:
        console.print(f"{name}: no live instance{'' if any_host else ' on ' + host}")
        raise typer.Exit(code=1)
    console.print(f"{name}: {len(alive)} live")
