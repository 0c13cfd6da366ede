"""The sender's throughput against the simulator, and the rate it holds under a provider limit.

    python load_tests/bench_sender.py --database-url postgresql://postgres@127.0.0.1:5432/bcp_bench \\
        --messages 20000 --concurrency 50                      # unlimited: worker vs plain httpx
    python load_tests/bench_sender.py --database-url ... --messages 12000 --rate 200   # limited

The simulator runs as ``bcp-service twilio-sim`` in its own process, without status callbacks, so
both sides measure the same thing: POSTs the simulator accepted per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import datetime

import httpx
from sqlalchemy import func, select

from bcp_service.config import Settings
from bcp_service.db import make_session_factory
from bcp_service.logs import configure_logging
from bcp_service.models import OutboxMessage
from bcp_service.outbox.worker import Worker
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from load_tests.bench_support import SIM_SID, SIM_TOKEN, SimProcess, bulk_patients, fresh_database
from notifiers import TwilioNotifier

FROM = "BCPLOAD"  # an alphanumeric sender ID, as SMS to Japan are sent


async def plain_httpx(sim: SimProcess, count: int, concurrency: int) -> float:
    """The yardstick: the same POSTs from one pooled client, nothing else."""
    url = f"{sim.base_url}/2010-04-01/Accounts/{SIM_SID}/Messages.json"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    body = "【訓練】安否確認です。回答はこちら http://127.0.0.1:8000/a/AAAAAAAAAAAAAAAAAAAAAA 返信も可:1無事 2要救助 3停電(残り時間も) 4搬送"
    async with httpx.AsyncClient(auth=(SIM_SID, SIM_TOKEN), limits=limits, timeout=30) as client:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(count):
            queue.put_nowait(i)

        async def poster() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                response = await client.post(url, data={"To": f"+8170{i:08d}", "From": FROM, "Body": body})
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(poster() for _ in range(concurrency)))
        return count / (time.perf_counter() - started)


async def worker_run(sim: SimProcess, settings: Settings, factory, concurrency: int, rate: float) -> tuple[float, dict]:
    notifier = TwilioNotifier(SIM_SID, SIM_TOKEN, from_number=FROM, base_url=sim.base_url, max_connections=concurrency)
    worker = Worker(
        session_factory=factory,
        notifier=notifier,
        settings=settings,
        concurrency=concurrency,
        rate=rate,
        status_callback=None,
    )
    started = time.perf_counter()
    stats = await worker.run(exit_when_idle=True)
    elapsed = time.perf_counter() - started
    await notifier.aclose()
    return stats["sent"] / elapsed, dict(stats)


def accepted_rate(sim: SimProcess, count: int) -> float:
    times = sorted(datetime.fromisoformat(m["date_created"]) for m in sim.messages(count * 2))
    return (len(times) - 1) / (times[-1] - times[0]).total_seconds()


def new_round(factory, settings, municipality_id) -> tuple[int, float]:
    with factory() as session:
        started = time.perf_counter()
        safety_round, _ = start_round(
            session=session,
            actor=Actor.system("bench"),
            settings=settings,
            drill=True,
            reason="manual",
            target=RoundTarget(municipality_ids=[municipality_id]),
        )
        session.commit()
        return safety_round.id, time.perf_counter() - started


def check_round(factory, sim: SimProcess, round_id: int, count: int) -> dict:
    with factory() as session:
        states = dict(
            session.execute(
                select(OutboxMessage.state, func.count())
                .where(OutboxMessage.round_id == round_id)
                .group_by(OutboxMessage.state)
            ).all()
        )
        numbers = set(
            session.execute(select(OutboxMessage.to_number).where(OutboxMessage.round_id == round_id)).scalars()
        )
    reached = [m["to"] for m in sim.messages(count * 3)]
    return {
        "outbox": states,
        "every_message_reached_the_sim": numbers <= set(reached),
        "duplicates_at_sim": len(reached) - len(set(reached)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rate", type=float, default=0, help="simulator limit and worker rate (0 = unlimited)")
    parser.add_argument(
        "--segments",
        action="store_true",
        help="--rate in segments per second, as Twilio counts a sender: the worker's limiter "
        "counts segments and the simulator's sender queue (1 s deep) drains at --rate, "
        "refusing with 21611 what does not fit",
    )
    parser.add_argument("--sim-port", type=int, default=0, help="the simulator's port (default: a free one)")
    parser.add_argument("--runs", type=int, default=3, help="alternating yardstick/worker runs (unlimited mode)")
    args = parser.parse_args()
    configure_logging("WARNING")
    engine = fresh_database(args.database_url)
    municipality_id = bulk_patients(engine, args.messages)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    factory = make_session_factory(engine)
    settings = Settings(
        database_url=args.database_url,
        environment="test",
        send_batch_size=200,
        send_idle_poll_seconds=0.05,
        public_base_url="http://127.0.0.1:8000",
    )
    segments = args.segments and args.rate > 0
    sim = SimProcess(rate_limit=0 if segments else args.rate, port=args.sim_port)
    if segments:
        sim.control(
            "POST",
            "/_sim/faults",
            json={"queue_segments": int(max(2, args.rate)), "drain_segments_per_second": args.rate},
        )
    settings = settings.model_copy(update={"send_rate_unit": "segments" if segments else "messages"})
    result: dict = {
        "messages": args.messages,
        "concurrency": args.concurrency,
        "rate": args.rate,
        "database": engine.dialect.name,
        "runs": [],
    }
    try:
        for _ in range(args.runs if args.rate == 0 else 1):
            run: dict = {}
            if args.rate == 0:
                sim.reset()
                run["plain_httpx_per_s"] = round(asyncio.run(plain_httpx(sim, args.messages, args.concurrency)), 1)
            sim.reset()
            round_id, run["round_create_s"] = new_round(factory, settings, municipality_id)
            per_s, run["worker_stats"] = asyncio.run(worker_run(sim, settings, factory, args.concurrency, args.rate))
            run["worker_per_s"] = round(per_s, 1)
            sim_stats = sim.stats()
            run["sim"] = {
                k: sim_stats.get(k, 0) for k in ("accepted", "rejected_429", "failed", "fault_21611_queue_full")
            }
            run.update(check_round(factory, sim, round_id, args.messages))
            if args.rate:
                run["accepted_rate_per_s"] = round(accepted_rate(sim, args.messages), 1)
                per_message = 2 if segments else 1  # every safety-check SMS is two UCS-2 segments
                run["achieved_ratio"] = round(run["accepted_rate_per_s"] * per_message / args.rate, 3)
            else:
                run["ratio"] = round(run["worker_per_s"] / run["plain_httpx_per_s"], 3)
            result["runs"].append(run)
            print(json.dumps(run, ensure_ascii=False), flush=True)
    finally:
        sim.stop()
    if args.rate == 0:
        plain = statistics.median(r["plain_httpx_per_s"] for r in result["runs"])
        worker = statistics.median(r["worker_per_s"] for r in result["runs"])
        result["median_plain_httpx_per_s"], result["median_worker_per_s"] = plain, worker
        result["median_ratio"] = round(worker / plain, 3)
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
