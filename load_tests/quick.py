"""The benchmarks at a small size, in under two minutes, against the last recorded figures.

    .venv/bin/python -m load_tests.quick --database-url postgresql://postgres@127.0.0.1:5432/bcp_quick [--record]

Not a timed test: it prints each figure beside the recorded one (``load_tests/quick_reference.json``)
with "better", "same" or "worse" (a band of ±20 %: the machine is shared), and ``--record`` writes
today's figures as the new reference. Figures that the machine's load moves little are preferred:

- ``round_s_per_10k``: a round of 20,000 patients (one mobile each, plus ``--landline-share`` called
  instead) created and committed through ``start_round``, seconds per 10,000 checks (wall clock, so
  read it with the load average printed beside it);
- ``webhook_status_x``, ``webhook_inbound_x``, ``answer_post_x``: process CPU per request of a Twilio
  delivery receipt, an SMS reply and an answer-page POST, called in-process on the ASGI app
  (``hotpath_bench``'s way), divided by the CPU per request of the bare endpoint (``bare_app``'s
  form POST) in the same process and run: the burst's goals are ≤ 3× for webhooks and ≤ 4× for answers.

Board freshness and the sender need the full burst (``python -m load_tests.run --scenario burst``);
they are not part of this command yet.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import time
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import text

from bcp_service.app import create_app
from bcp_service.config import Settings
from bcp_service.db import make_session_factory
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from load_tests import bare_app
from load_tests.bench_support import bulk_patients, fresh_database
from load_tests.burst import wire
from load_tests.hotpath_bench import call

REFERENCE = Path(__file__).with_name("quick_reference.json")
TOKEN = "quick-auth-token"
BASE = "http://127.0.0.1:8000"
BAND = 0.20
# Lower is better for every figure here.
FIGURES = ("round_s_per_10k", "webhook_status_x", "webhook_inbound_x", "answer_post_x")


def round_figure(url: str, patients: int, landline_share: float) -> tuple[float, object, Settings, list]:
    engine = fresh_database(url)
    municipality_id = bulk_patients(engine, patients)
    if landline_share > 0:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE patient_contact SET phone = '+81431' || substr(CAST(1000000 + id % 1000000 AS TEXT), 2)"
                    " WHERE id % :every = 0"
                ),
                {"every": max(1, round(1 / landline_share))},
            )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    settings = Settings(
        database_url=url, environment="test", public_base_url=BASE, twilio_auth_token=TOKEN, notifier="console"
    )
    with make_session_factory(engine)() as session:
        started = time.perf_counter()
        safety_round, _ = start_round(
            session=session,
            actor=Actor.system("quick"),
            settings=settings,
            drill=True,
            reason="manual",
            target=RoundTarget(municipality_ids=[municipality_id]),
        )
        session.commit()
        seconds = time.perf_counter() - started
        checks = safety_round.target_count
    with engine.begin() as conn:
        rows = conn.execute(
            text("SELECT id, answer_token, to_number FROM outbox_message WHERE channel = 'sms' ORDER BY id")
        ).all()
        conn.execute(
            text("UPDATE outbox_message SET provider_message_id = 'SM' || id, state = 'sent', sent_at = now()")
        )
    return 10_000 * seconds / max(1, checks), engine, settings, rows


async def _cpu(calls) -> float:
    """Process CPU (ms) per call of ``calls`` (coroutine factories), after two warm-up calls."""
    for make in calls[:2]:
        await make()
    started = time.process_time()
    for make in calls[2:]:
        await make()
    return 1000 * (time.process_time() - started) / max(1, len(calls) - 2)


def hot_path_figures(engine, settings, rows, requests: int) -> dict[str, float]:
    app = create_app(settings, engine)
    signer = wire.Signer(TOKEN, BASE)
    part = rows[:requests]
    form = urlencode(
        wire.status_params(account_sid="AC", sid="SM1", status="delivered", to="+819000000000", from_="+815000000000")
    )

    def status(message_id, phone):
        params = wire.status_params(
            account_sid="AC", sid=f"SM{message_id}", status="delivered", to=phone, from_="+815000000000"
        )
        return lambda: call(
            app, "POST", wire.STATUS_PATH, params, {"X-Twilio-Signature": signer.sign(wire.STATUS_PATH, params)}
        )

    def inbound(message_id, phone):
        params = wire.reply_params(account_sid="AC", sid=f"SMr{message_id}", from_=phone, to="+815000000000", body="1")
        return lambda: call(
            app, "POST", wire.INBOUND_PATH, params, {"X-Twilio-Signature": signer.sign(wire.INBOUND_PATH, params)}
        )

    async def answer(token):
        page = await call(app, "GET", f"/a/{token}")
        nonce = re.search(rb'name="nonce" value="([^"]+)"', page["body"]).group(1).decode()
        started = time.process_time()
        await call(app, "POST", f"/a/{token}", {"state": "power_out", "hours": "3", "note": "", "nonce": nonce})
        return time.process_time() - started

    async def run() -> dict[str, float]:
        bare = await _cpu(
            [
                lambda: call(bare_app.app, "POST", "/bare/form", dict(p.split("=", 1) for p in form.split("&")))
                for _ in range(requests)
            ]
        )
        figures = {"bare_ms": bare}
        figures["webhook_status_ms"] = await _cpu([status(m, p) for m, _, p in part])
        figures["webhook_inbound_ms"] = await _cpu([inbound(m, p) for m, _, p in part])
        posts = [await answer(token) for _, token, _ in part]
        figures["answer_post_ms"] = 1000 * sum(posts[2:]) / max(1, len(posts) - 2)
        return figures

    figures = asyncio.run(run())
    for name in ("webhook_status", "webhook_inbound", "answer_post"):
        figures[f"{name}_x"] = figures[f"{name}_ms"] / figures["bare_ms"]
    return figures


def verdict(now: float, before: float | None) -> str:
    if before is None:
        return "no reference"
    if now < before * (1 - BAND):
        return "better"
    if now > before * (1 + BAND):
        return "WORSE"
    return "same"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="dropped and recreated (PostgreSQL) or a SQLite file")
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--landline-share", type=float, default=0.2)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--record", action="store_true", help="write these figures as the new reference")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    started = time.perf_counter()
    load = os.getloadavg()[0]
    per_10k, engine, settings, rows = round_figure(args.database_url, args.patients, args.landline_share)
    figures = {"round_s_per_10k": per_10k, **hot_path_figures(engine, settings, rows, args.requests)}
    engine.dispose()
    reference = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else {}
    recorded = reference.get("figures", {})
    print(f"load average at start {load:.1f}, now {os.getloadavg()[0]:.1f}; reference: {reference.get('note', '-')}")
    print(f"{'figure':<22} {'now':>9} {'recorded':>9}  verdict")
    for name in FIGURES:
        before = recorded.get(name)
        shown = f"{before:9.2f}" if before is not None else f"{'-':>9}"
        print(f"{name:<22} {figures[name]:9.2f} {shown}  {verdict(figures[name], before)}")
    print("CPU ms per request: " + ", ".join(f"{k[:-3]} {v:.2f}" for k, v in figures.items() if k.endswith("_ms")))
    print(f"took {time.perf_counter() - started:.0f} s")
    if args.record:
        REFERENCE.write_text(
            json.dumps(
                {
                    "note": f"recorded {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, load average {load:.1f}, "
                    f"{args.patients} patients, {args.requests} requests",
                    "figures": {name: round(figures[name], 3) for name in FIGURES},
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
