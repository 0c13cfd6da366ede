"""``bcp-service rounds ...``, ``bcp-service worker`` and ``bcp-service twilio-sim``."""

from __future__ import annotations

import asyncio
import getpass
import signal
from datetime import timedelta
from functools import partial

import typer
from rich.console import Console
from rich.table import Table

from bcp_service.config import get_settings
from bcp_service.db import make_engine, make_session_factory
from bcp_service.logs import configure_logging
from bcp_service.models.base import utcnow
from bcp_service.models.enums import RiskTier, Therapy
from bcp_service.models.rounds import RoundKind, RoundReason, RoundState
from bcp_service.rounds.messages import check_settings_budget
from bcp_service.rounds.service import Actor, close_round, get_round, list_rounds, start_round
from bcp_service.rounds.summary import summarise_round
from bcp_service.rounds.targets import RoundTarget

app = typer.Typer(help="安否確認ラウンド (safety-check rounds)", no_args_is_help=True)
console = Console()


def _factory():
    return make_session_factory(make_engine(get_settings().database_url))


def _cli_actor() -> Actor:
    # Whoever can run the CLI against the database is an operator with full rights.
    return Actor(f"cli:{getpass.getuser()}"[:100], role="admin")


@app.command("start")
def start(
    municipality: list[str] = typer.Option(
        [], "--municipality", "-m", help="municipality code, e.g. 121002 (repeatable)"
    ),
    prefecture_id: int | None = typer.Option(None, help="every patient of this prefecture"),
    region_id: list[int] = typer.Option([], "--region-id", help="home-care region id (repeatable)"),
    hub_id: list[int] = typer.Option([], "--hub-id", help="hub institution id (repeatable)"),
    institution_id: list[int] = typer.Option([], "--institution-id", help="institution id (repeatable)"),
    therapy: list[Therapy] = typer.Option([], "--therapy", help="only these therapies (repeatable)"),
    risk_tier: list[RiskTier] = typer.Option([], "--risk-tier", help="only these risk tiers (repeatable)"),
    drill: bool = typer.Option(False, "--drill/--real", help="a drill is labelled 【訓練】 everywhere"),
    reason: RoundReason = typer.Option(RoundReason.manual, help="disaster, scheduled or manual"),
    kind: RoundKind = typer.Option(
        RoundKind.safety_check, help="safety_check, or advance_notice (事前連絡) before a forecast hazard"
    ),
    hours: float | None = typer.Option(None, help="deadline in hours from now (default: BCP_ROUND_DEFAULT_HOURS)"),
    title: str | None = typer.Option(None, help="shown on the answer page"),
    idempotency_key: str | None = typer.Option(None, help="the same key starts one round, not two"),
) -> None:
    """Start a round: checks and first messages are queued; `bcp-service worker` sends them."""
    settings = get_settings()
    target = RoundTarget(
        prefecture_id=prefecture_id,
        region_ids=region_id,
        municipality_codes=municipality,
        hub_ids=hub_id,
        institution_ids=institution_id,
        therapies=therapy,
        risk_tiers=risk_tier,
    )
    deadline = utcnow() + timedelta(hours=hours) if hours else None
    with _factory()() as session:
        safety_round, created = start_round(
            session=session,
            actor=_cli_actor(),
            target=target,
            reason=reason,
            drill=drill,
            settings=settings,
            deadline=deadline,
            idempotency_key=idempotency_key,
            title=title,
            kind=kind,
        )
        session.commit()
    label = "【訓練】" if safety_round.drill else ""
    verb = "started" if created else "already started (same idempotency key)"
    console.print(
        f"{label}round [bold]{safety_round.id}[/bold] {verb}: {safety_round.target_count:,} patients, "
        f"{safety_round.message_count:,} messages queued, {safety_round.no_contact_count:,} without a usable number"
    )


@app.command("list")
def list_(state: RoundState | None = typer.Option(None, help="running or closed")) -> None:
    """List rounds, newest first."""
    with _factory()() as session:
        rows, total = list_rounds(session=session, principal=None, state=state, limit=100)
    table = Table(title=f"安否確認ラウンド ({total})", title_justify="left")
    for column in ("id", "", "reason", "state", "started", "by", "patients", "title"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r.id),
            "【訓練】" if r.drill else "",
            r.reason,
            r.state,
            f"{r.started_at:%Y-%m-%d %H:%M}",
            r.started_by_name,
            f"{r.target_count:,}",
            r.title or "",
        )
    console.print(table)


@app.command("show")
def show(round_id: int) -> None:
    """Counts by answer state for one round."""
    with _factory()() as session:
        summary = summarise_round(session=session, safety_round=get_round(session=session, round_id=round_id))
    console.print(
        f"{summary.label}round {summary.round_id} ({summary.state}): {summary.answered:,} of {summary.total:,} answered"
    )
    for state, count in sorted(summary.by_state.items()):
        console.print(f"  {state:16} {count:>8,}")
    console.print("  messages: " + ", ".join(f"{k} {v:,}" for k, v in sorted(summary.messages.items())))


@app.command("close")
def close(round_id: int) -> None:
    """Close a round: answer links expire and unsent messages are cancelled."""
    with _factory()() as session:
        safety_round = close_round(session=session, round_id=round_id, actor=_cli_actor())
        session.commit()
    console.print(f"round {safety_round.id} closed")


def worker(
    concurrency: int | None = typer.Option(None, help="requests in flight (default: BCP_SEND_CONCURRENCY)"),
    batch_size: int | None = typer.Option(None, help="messages per claim (default: BCP_SEND_BATCH_SIZE)"),
    rate: float | None = typer.Option(None, help="messages per second shared by all workers; 0 = no limit"),
) -> None:
    """Send queued messages until stopped (Ctrl-C / SIGTERM finish what is in flight first)."""
    from bcp_service.audit import deferred as audit_deferred
    from bcp_service.group_commit import transaction
    from bcp_service.outbox.notifier import build_notifier
    from bcp_service.outbox.worker import Worker
    from bcp_service.webhooks.journal import journal_of

    settings = get_settings()
    configure_logging(settings.log_level)
    check_settings_budget(settings)

    async def main() -> None:
        notifier = build_notifier(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        factory = _factory()
        # Webhooks an API process journaled during a database outage (it may have died since).
        journal = journal_of(settings)
        # ... and audit rows a page kept while the database refused writes (audit/deferred.py).
        audit_deferred.configure(settings.data_dir / "audit-deferred")
        try:
            await Worker(
                session_factory=factory,
                notifier=notifier,
                settings=settings,
                concurrency=concurrency,
                batch_size=batch_size,
                rate=rate,
                maintenance=[
                    lambda: journal.replay(partial(transaction, factory)),
                    lambda: audit_deferred.replay(partial(transaction, factory)),
                ],
            ).run(stop)
        finally:
            await notifier.aclose()

    asyncio.run(main())


def twilio_sim(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8099, help="port"),
    rate_limit: float = typer.Option(0, help="messages per second before 429 / 20429; 0 = unlimited"),
    latency_ms: int = typer.Option(0, help="added to every API request"),
    transient_failure_rate: float = typer.Option(0.0, help="share of requests answered 500 / 20500"),
    permanent_failure_rate: float = typer.Option(0.0, help="share of requests answered 400 / 21211"),
    undelivered_rate: float = typer.Option(0.0, help="share of messages ending undelivered (30003)"),
    out_of_order_rate: float = typer.Option(0.0, help="share of messages whose callbacks arrive reversed"),
    callback_delay_ms: int = typer.Option(0, help="delay before each status callback"),
    inbound_url: str | None = typer.Option(None, help="where simulated replies are posted (…/webhooks/twilio/inbound)"),
    answer_rate: float = typer.Option(
        0.0, help="share of messages the simulated recipient answers by opening the link"
    ),
    answer_delay_ms: int = typer.Option(2000, help="how long the simulated recipient takes to answer"),
    answer_curve_mode: float = typer.Option(
        0.0, help="answers spread as in real drills, mode at this many seconds (0: fixed delay)"
    ),
    answer_speed: float = typer.Option(1.0, min=0.01, help="compress the answer curve (10 = ten times faster)"),
    seed: int | None = typer.Option(None, help="random seed for repeatable faults"),
    auth_token: str | None = typer.Option(
        None,
        envvar="BCP_TWILIO_AUTH_TOKEN",
        show_default=False,
        help="the auth token, the same the service verifies with (default: the public placeholder, loopback only)",
    ),
) -> None:
    """A Twilio-compatible simulator (Messages, Calls, signed webhooks) for development and load tests.

    Point the service at it with BCP_NOTIFIER=twilio BCP_TWILIO_BASE_URL=http://HOST:PORT
    BCP_TWILIO_ACCOUNT_SID=AC5130a7000000000000000000000000a1 BCP_TWILIO_AUTH_TOKEN=<the token>
    BCP_TWILIO_SMS_SENDER=BCPDEMO BCP_TWILIO_VOICE_CALLER_ID=+815011112222 (as in Japan: SMS from a
    sender ID, calls from a 050 number; SMS from a +81 number is refused with 21606, SMS to a landline
    with 21614). Status callbacks go wherever each message asks.
    Without BCP_TWILIO_AUTH_TOKEN the token is the public placeholder and only a loopback address is served.
    """
    from bcp_service.twilio_sim import SimConfig, run_sim

    config = SimConfig(
        rate_limit_per_second=rate_limit,
        latency_ms=latency_ms,
        transient_failure_rate=transient_failure_rate,
        permanent_failure_rate=permanent_failure_rate,
        undelivered_rate=undelivered_rate,
        out_of_order_rate=out_of_order_rate,
        callback_delay_ms=callback_delay_ms,
        inbound_webhook_url=inbound_url,
        answer_rate=answer_rate,
        answer_delay_ms=answer_delay_ms,
        seed=seed,
        **({"auth_token": auth_token} if auth_token else {}),
        answer_curve_mode_seconds=answer_curve_mode,
        answer_speed=answer_speed,
    )
    configure_logging(get_settings().log_level)
    run_sim(host, port, config)
