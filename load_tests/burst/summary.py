"""summary.json, summary.md and the plots of one run, with each figure set against its target."""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path

import psutil

from load_tests.burst import plots, report
from load_tests.burst.locust_run import Phase
from load_tests.burst.profile import summarise

ROOT = Path(__file__).resolve().parents[2]
TARGET_RPS = 1000
TARGET_P99_MS = 200
TARGET_FRESH_P95_MS = 1000
TARGET_SEND_RATIO = 0.95
TARGET_FIRST_S = 1.0
MAIN_NAMES = (
    "POST webhook status",
    "POST webhook inbound",
    "GET /a/[token]",
    "POST /a/[token]",
    "POST /api/v1/nurse/results",
    "POST /bare/form",
)


def machine() -> dict:
    try:
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
    except OSError:
        model = platform.processor()
    return {
        "cpu": model,
        "cores": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def revision() -> str:
    try:
        described = subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
        return described + (" (+ uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _aggregate(stats: dict, names: tuple[str, ...]) -> dict:
    rows = [stats[n] for n in names if n in stats]
    if not rows:
        return {}
    if len(rows) == 1:
        return rows[0]
    merged = stats.get("Aggregated", {})
    return merged


def _met(value, target, *, below: bool = False):
    if value is None:
        return None
    return value < target if below else value >= target


def figures(summary: dict) -> list[dict]:
    """Each target of the issue with what this run measured."""
    out = []
    p = summary["phases"]
    baseline = p.get("baseline", {}).get("stats", {}).get("POST /bare/form", {})
    bare_rps = baseline.get("rps_sustained")

    def ingest(label: str, entry: dict, recorded: bool | None, extra: str = "") -> None:
        rps, p99 = entry.get("rps_sustained"), (entry.get("ms") or {}).get("99%")
        five = entry.get("http_5xx")
        ratio = round(rps / bare_rps, 3) if rps and bare_rps else None
        out.append(
            {
                "figure": f"{label}: sustained req/s",
                "target": f">= {TARGET_RPS}",
                "value": rps,
                "met": _met(rps, TARGET_RPS),
                "note": f"{ratio} of the bare endpoint ({bare_rps}/s){extra}",
            }
        )
        out.append(
            {
                "figure": f"{label}: p99",
                "target": f"< {TARGET_P99_MS} ms",
                "value": p99,
                "met": _met(p99, TARGET_P99_MS, below=True),
            }
        )
        out.append(
            {"figure": f"{label}: 5xx", "target": "0", "value": five, "met": five == 0 if five is not None else None}
        )
        out.append(
            {
                "figure": f"{label}: every accepted request in the database",
                "target": "yes",
                "value": recorded,
                "met": recorded,
            }
        )

    verify = summary.get("verify", {})
    webhooks = p.get("webhooks", {}).get("stats", {})
    if webhooks:
        recorded = all(verify.get(k, {}).get("all_recorded", False) for k in ("status", "sms_reply"))
        ingest("Webhooks (receipts + replies)", webhooks.get("Aggregated", {}), recorded)
    answers = p.get("answers", {}).get("stats", {})
    if answers:
        get = answers.get("GET /a/[token]", {}).get("rps_sustained")
        ingest(
            "Answer page (POST submissions)",
            answers.get("POST /a/[token]", {}),
            verify.get("answer_page", {}).get("all_recorded"),
            f"; plus as many GETs of the form ({get}/s)",
        )
    fresh = summary.get("freshness", {}).get("ms_every_pair", {})
    out.append(
        {
            "figure": "Board freshness, answer → live event, p95 (every answer × viewer)",
            "target": f"< {TARGET_FRESH_P95_MS} ms",
            "value": fresh.get("p95"),
            "met": _met(fresh.get("p95"), TARGET_FRESH_P95_MS, below=True),
            "note": f"p50 {fresh.get('p50')} ms, p99 {fresh.get('p99')} ms, n={fresh.get('n')}",
        }
    )
    send = summary.get("sending", {})
    out.append(
        {
            "figure": "Sending: achieved rate / simulator limit",
            "target": f">= {TARGET_SEND_RATIO}",
            "value": send.get("ratio_to_limit"),
            "met": _met(send.get("ratio_to_limit"), TARGET_SEND_RATIO),
            "note": f"{send.get('rate_per_s')}/s over {send.get('span_s')} s, {send.get('messages')} messages",
        }
    )
    out.append(
        {
            "figure": "Sending: first message after the round is committed",
            "target": f"< {TARGET_FIRST_S} s",
            "value": send.get("first_after_round_committed_s"),
            "met": _met(send.get("first_after_round_committed_s"), TARGET_FIRST_S, below=True),
            "note": f"{send.get('first_after_request_s')} s after the start request was sent "
            f"(the request itself took {summary.get('round', {}).get('request_seconds')} s)",
        }
    )
    return out


def cpu_per_request(entry: dict) -> dict | None:
    """CPU the serving processes (the API, or the bare app) and PostgreSQL spent per request."""
    requests = entry.get("stats", {}).get("Aggregated", {}).get("requests")
    used = entry.get("cpu", {}).get("cpu_seconds", {})
    server = max(used.get("api", 0.0), used.get("bare app", 0.0))
    if not requests or not server:
        return None
    return {
        "requests": requests,
        "server_cpu_s": round(server, 1),
        "server_ms": round(1000 * server / requests, 2),
        "postgres_ms": round(1000 * used.get("postgresql", 0.0) / requests, 2),
    }


def write_outputs(
    run_dir: Path,
    *,
    args,
    summary: dict,
    phases: list[Phase],
    sampler,
    pg_waits,
    round_info: dict,
    accepted: list[float],
    database_url: str,
    journal_dir: Path,
    profiles: dict[str, Path],
) -> None:
    summary["machine"] = machine()
    summary["revision"] = revision()
    zero = round_info["returned"]
    records_by_phase = {phase.name: report.load_journal(journal_dir, phase.name) for phase in phases}
    all_records = [r for records in records_by_phase.values() for r in records]
    series = {}
    for phase in phases:
        prefix = phase.csv_prefix(run_dir)
        entry = {
            "start": phase.start,
            "end": phase.end,
            "seconds": phase.seconds,
            "users": phase.users,
            "loads": {k: {"users": v.users, "rate": v.rate} for k, v in phase.loads.items()},
            "locust_exit": phase.exit_code,
            "stats": report.phase_stats(prefix),
        }
        if sampler is not None:
            entry["cpu"] = sampler.split(phase.start, phase.end)
        if pg_waits is not None:
            entry["postgres_connections"] = pg_waits.split(phase.start, phase.end)
        entry["cpu_per_request"] = cpu_per_request(entry)
        summary["phases"][phase.name] = entry
        series[phase.name] = report.history_series(prefix, list(MAIN_NAMES))
    main = args.scenario
    summary["verify"] = report.verify(database_url, all_records)
    summary["freshness"] = report.freshness(database_url, records_by_phase.get(main, []))
    timelines = report.database_timelines(database_url, round_info["id"])
    summary["sending"] = report.send_figures(
        accepted, round_returned=round_info["returned"], round_requested=round_info["requested"], limit=args.rate_limit
    )
    summary["outbox_states"] = timelines["outbox_states"]
    summary["check_states"] = timelines["check_states"]
    summary["unmatched_replies"] = timelines["unmatched_replies"]
    summary["answers_by_channel"] = {k: len(v) for k, v in timelines["answers"].items()}
    summary["profiles"] = {name: summarise(path) for name, path in profiles.items()}
    summary["figures"] = figures(summary)
    marks = [{"name": ph.name, "start": ph.start, "end": ph.end} for ph in phases]
    plots.send_rate(
        run_dir / "send_rate.png",
        accepted=accepted,
        sent=timelines["sent"],
        limit=args.rate_limit,
        zero=zero,
        phases=marks,
    )
    plots.answer_rate(run_dir / "answer_rate.png", answers=timelines["answers"], zero=zero, phases=marks)
    plots.latency(run_dir / "latency.png", series_by_phase=series, zero=zero)
    plots.throughput(run_dir / "throughput.png", series_by_phase=series, zero=zero)
    if sampler is not None:
        times, by_component = sampler.series()
        plots.cpu(
            run_dir / "cpu.png",
            times=times,
            by_component=by_component,
            zero=zero,
            cores=psutil.cpu_count() or 1,
            phases=marks,
        )
    (run_dir / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
    (run_dir / "summary.md").write_text(markdown(summary))


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown(summary: dict) -> str:
    args = summary["args"]
    lines = [
        f"# Load run {summary['started']} ({args['scenario']}, {args['patients']:,} patients)",
        "",
        f"- Machine: {summary['machine']['cpu']}, {summary['machine']['cores']} cores, "
        f"{summary['machine']['memory_gib']} GiB; PostgreSQL {summary.get('postgres', {}).get('server_version')}",
        f"- Revision: {summary['revision']}",
        f"- System: API {args['api_workers']} processes, {args['send_workers']} send workers "
        f"(concurrency {args['send_concurrency']}), scheduler, simulator limit {args['rate_limit']:g}/s "
        f"(+{args['sim_latency_ms']} ms per call), Locust {args['locust_processes']} processes",
        f"- Round: {summary.get('round', {}).get('target_count')} checks, start request "
        f"{summary.get('round', {}).get('request_seconds')} s",
        "",
        "| figure | target | measured | met | note |",
        "|---|---|---|---|---|",
    ]
    for f in summary.get("figures", []):
        met = {True: "yes", False: "**no**", None: "—"}[f["met"]]
        lines.append(f"| {f['figure']} | {f['target']} | {_fmt(f['value'])} | {met} | {f.get('note', '')} |")
    lines += [
        "",
        "## Phases",
        "",
        "| phase | request | requests | sustained req/s | p50 | p95 | p99 | max | failures | 5xx |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, phase in summary["phases"].items():
        for request, s in phase.get("stats", {}).items():
            ms = s.get("ms", {})
            lines.append(
                f"| {name} | {request} | {_fmt(s['requests'])} | {_fmt(s.get('rps_sustained'))} | "
                f"{_fmt(ms.get('50%'))} | {_fmt(ms.get('95%'))} | {_fmt(ms.get('99%'))} | {_fmt(ms.get('100%'))} | "
                f"{_fmt(s['failures'])} | {_fmt(s.get('http_5xx'))} |"
            )
    lines += [
        "",
        "## Server CPU per request",
        "",
        "| phase | requests | server process CPU s | ms per request | PostgreSQL ms per request |",
        "|---|---|---|---|---|",
    ]
    for name, phase in summary["phases"].items():
        cost = phase.get("cpu_per_request")
        if cost:
            lines.append(
                f"| {name} | {_fmt(cost['requests'])} | {_fmt(cost['server_cpu_s'])} | {_fmt(cost['server_ms'])} | "
                f"{_fmt(cost['postgres_ms'])} |"
            )
    lines += ["", "## CPU split (share of the whole machine, all cores)", ""]
    components = sorted({c for p in summary["phases"].values() for c in p.get("cpu", {}).get("share_of_machine", {})})
    if components:
        lines += ["| phase | " + " | ".join(components) + " | idle |", "|---" * (len(components) + 2) + "|"]
        for name, phase in summary["phases"].items():
            share = phase.get("cpu", {}).get("share_of_machine", {})
            lines.append(
                f"| {name} | "
                + " | ".join(f"{100 * share.get(c, 0):.0f} %" for c in components)
                + f" | {100 * phase.get('cpu', {}).get('idle_share', 0):.0f} % |"
            )
    lines += [
        "",
        "## PostgreSQL connections of the load database (average number in each state)",
        "",
        "| phase | states |",
        "|---|---|",
    ]
    for name, phase in summary["phases"].items():
        states = phase.get("postgres_connections", {})
        lines.append(f"| {name} | " + ", ".join(f"{k} {v:g}" for k, v in list(states.items())[:6]) + " |")
    lines += [
        "",
        "## Database after the run",
        "",
        "```json",
        json.dumps(
            {
                k: summary.get(k)
                for k in (
                    "verify",
                    "outbox_states",
                    "check_states",
                    "answers_by_channel",
                    "unmatched_replies",
                    "freshness",
                    "sending",
                )
            },
            ensure_ascii=False,
            indent=1,
            default=str,
        ),
        "```",
    ]
    for name, prof in summary.get("profiles", {}).items():
        if not prof:
            continue
        phase, _, process = name.partition("/")
        lines += [
            "",
            f"## Profile of `{process}` during `{phase}` ({prof['samples']:,} samples on the GIL, py-spy)",
            "",
            "| area (inclusive) | % |",
            "|---|---|",
        ]
        lines += [f"| {a} | {pct} |" for a, pct in prof["by_area_pct"]]
        lines += ["", "| function (self) | % |", "|---|---|"]
        lines += [f"| `{fn}` | {pct} |" for fn, pct in prof["self_pct"][:15]]
    return "\n".join(lines) + "\n"
