"""The ``bcp-service`` command."""

from __future__ import annotations

import typer

from bcp_service.bcp import cli as bcp_cli
from bcp_service.cli import audit, database, demo, errors, heartbeat, imports, registry, rounds, users
from bcp_service.cli.feeds import feeds
from bcp_service.cli.scheduler import scheduler

# No pretty tracebacks with local variables: they printed a new user's password hash (cli/errors.py).
app = typer.Typer(
    help="bcp-service: 在宅医療の災害時安否確認・BCP作成支援",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(database.app, name="db")
app.add_typer(bcp_cli.app, name="bcp")
app.add_typer(users.app, name="users")
app.add_typer(imports.import_app, name="import")
app.add_typer(imports.export_app, name="export")
app.command("serve")(demo.serve)
app.command("demo")(demo.demo)
app.command("seed")(demo.seed)
app.command("coverage-gaps")(registry.coverage_gaps)
app.add_typer(rounds.app, name="rounds")
app.command("worker")(rounds.worker)
app.command("twilio-sim")(rounds.twilio_sim)
app.command("scheduler")(scheduler)
app.command("feeds")(feeds)
app.add_typer(heartbeat.app, name="heartbeat")
app.add_typer(audit.app, name="audit")  # audit verify: the hash chain (issue 23.3)


def main() -> None:
    errors.run(app)
