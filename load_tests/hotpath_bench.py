"""CPU per request of the burst's hot paths, in-process, before and after the profile-driven fixes.

    .venv/bin/python load_tests/hotpath_bench.py [--messages 2000] [--repeat 3]

Calls the ASGI app directly (no HTTP, no Locust: nothing else competes for the CPU in this
process) against a fresh PostgreSQL database ``bcp_hotpath`` on 127.0.0.1, one request at a time,
and reports process CPU time per request (all threads: the event loop and the pool threads that
run the database work). Each variant runs ``--repeat`` times, alternating, and the lowest figure is
kept, because on a shared machine the noise only ever adds. The "before" variants put back, in
this process only, what the fixes replaced:

- ``routes``: the webhook and answer routers included after every other router (as before);
- ``counters``: the round counters moved with one UPDATE or INSERT ... ON CONFLICT per counter.

Per message: a delivery receipt, an SMS reply "1" (safe), then the answer page opened and
"停電, 3 時間" submitted (a second answer that changes the state again, so counters move).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from bcp_service.app import create_app
from bcp_service.config import Settings
from bcp_service.db import make_session_factory
from bcp_service.models import RoundCounter
from bcp_service.rounds import counters
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from load_tests.bench_support import bulk_patients, fresh_database
from load_tests.burst import wire

URL = "postgresql://postgres@127.0.0.1:5432/bcp_hotpath"
TOKEN = "hotpath-auth-token"
BASE = "http://127.0.0.1:8000"


def old_move_counters(*, session, moves) -> None:
    """The counters as they were moved before: one statement per counter row."""
    deltas: Counter = Counter()
    for keys, old, new in moves:
        if old == new:
            continue
        for dimension, key in keys.keys():  # noqa: SIM118 (CheckKeys.keys(), not a dict)
            deltas[(keys.round_id, dimension, key, old)] -= 1
            deltas[(keys.round_id, dimension, key, new)] += 1
    table = RoundCounter.__table__
    for (round_id, dimension, key, state), delta in sorted(deltas.items()):
        if delta == 0:
            continue
        if delta < 0:
            session.execute(
                update(table)
                .where(
                    table.c.round_id == round_id,
                    table.c.dimension == dimension,
                    table.c.key == key,
                    table.c.state == state,
                    table.c.shard == 0,
                )
                .values(count=table.c.count + delta)
            )
            continue
        statement = pg_insert(table).values(
            round_id=round_id, dimension=dimension, key=key, state=state, shard=0, count=delta
        )
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["round_id", "dimension", "key", "state", "shard"], set_={"count": table.c.count + delta}
            )
        )


def prepare(messages: int):
    engine = fresh_database(URL)
    municipality_id = bulk_patients(engine, messages)
    settings = Settings(
        database_url=URL, environment="test", public_base_url=BASE, twilio_auth_token=TOKEN, notifier="console"
    )
    with make_session_factory(engine)() as session:
        start_round(
            session=session,
            actor=Actor.system("bench"),
            settings=settings,
            drill=True,
            reason="manual",
            target=RoundTarget(municipality_ids=[municipality_id]),
        )
        session.commit()
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT id, answer_token, to_number FROM outbox_message ORDER BY id")).all()
        conn.execute(
            text("UPDATE outbox_message SET provider_message_id = 'SM' || id, state = 'sent', sent_at = now()")
        )
    return engine, settings, rows


async def call(app, method: str, path: str, params: dict | None = None, headers: dict | None = None):
    body = urlencode(params or {}).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
        ]
        + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
    }
    received = False

    async def receive():
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(30)

    out = {"status": 0, "body": b""}

    async def send(message):
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return out


def build_app(settings, engine, *, routes_before: bool):
    app = create_app(settings, engine)
    if routes_before:
        from bcp_service.answers.routes import router as answers
        from bcp_service.webhooks.routes import router as webhooks

        routes = app.router.routes
        hot = [r for r in routes if getattr(r, "original_router", None) in (answers, webhooks)]
        rest = [r for r in routes if r not in hot]
        cut = max(i for i, r in enumerate(rest) if getattr(r, "original_router", None) is not None) + 1
        routes[:] = rest[:cut] + hot + rest[cut:]
    return app


async def measure(app, rows, part: slice) -> dict[str, float]:
    signer = wire.Signer(TOKEN, BASE)
    cpu: Counter = Counter()
    done: Counter = Counter()
    for message_id, token, phone in rows[part]:
        sid = f"SM{message_id}"
        status = wire.status_params(account_sid="AC", sid=sid, status="delivered", to=phone, from_="+815000000000")
        reply = wire.reply_params(account_sid="AC", sid=f"SMr{message_id}", from_=phone, to="+815000000000", body="1")
        steps = [
            (
                "webhook status",
                "POST",
                wire.STATUS_PATH,
                status,
                {"X-Twilio-Signature": signer.sign(wire.STATUS_PATH, status)},
            ),
            (
                "webhook inbound",
                "POST",
                wire.INBOUND_PATH,
                reply,
                {"X-Twilio-Signature": signer.sign(wire.INBOUND_PATH, reply)},
            ),
        ]
        for name, method, path, params, headers in steps:
            started = time.process_time()
            response = await call(app, method, path, params, headers)
            cpu[name] += time.process_time() - started
            done[name] += response["status"] in (200, 204)
        started = time.process_time()
        page = await call(app, "GET", f"/a/{token}")
        cpu["answer page GET"] += time.process_time() - started
        nonce = re.search(rb'name="nonce" value="([^"]+)"', page["body"]).group(1).decode()
        started = time.process_time()
        response = await call(
            app, "POST", f"/a/{token}", {"state": "power_out", "hours": "3", "note": "", "nonce": nonce}
        )
        cpu["answer page POST"] += time.process_time() - started
        done["answer page GET"] += page["status"] == 200
        done["answer page POST"] += response["status"] == 200
    return {name: round(1000 * cpu[name] / max(1, done[name]), 2) for name in cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    variants = {
        "before (both)": (True, True),
        "routes fixed": (False, True),
        "counters fixed": (True, False),
        "after (both)": (False, False),
    }
    engine, settings, rows = prepare(args.messages * len(variants) * args.repeat + 50)
    new_move = counters.move_counters
    best: dict[str, dict[str, float]] = {}
    cursor = 0
    asyncio.run(measure(build_app(settings, engine, routes_before=False), rows, slice(0, 50)))  # warm up
    cursor = 50
    for _ in range(args.repeat):
        for label, (routes_before, counters_before) in variants.items():
            counters.move_counters = old_move_counters if counters_before else new_move
            import bcp_service.answers.service as answers_service

            answers_service.move_counters = counters.move_counters
            app = build_app(settings, engine, routes_before=routes_before)
            figures = asyncio.run(measure(app, rows, slice(cursor, cursor + args.messages)))
            cursor += args.messages
            best[label] = {k: min(v, best.get(label, {}).get(k, v)) for k, v in figures.items()}
    names = list(next(iter(best.values())))
    print("| variant | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for label, figures in best.items():
        print(f"| {label} | " + " | ".join(f"{figures[n]:.2f}" for n in names) + " |")
    engine.dispose()


if __name__ == "__main__":
    main()
