"""Figures of a run: Locust's CSVs per phase, the journals the users wrote, and the database.

- ``phase_stats``: requests, sustained rate (after the ramp), percentiles, failures and 5xx per request name.
- ``load_journal``: what each Locust process saw accepted (provider ids, nonces, client ids) and when.
- ``verify``: every accepted request found in the database (answers, unmatched replies, statuses).
- ``freshness``: answer accepted → the answered check in each viewer's live stream.
- ``timelines``: messages accepted by the simulator / marked sent, answers by channel, per second.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import psycopg

from load_tests.burst.setup import libpq

RANK = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "undelivered": 3, "failed": 3, "cancelled": 3}
PERCENTILES = ("50%", "95%", "99%", "100%")


def _float(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def phase_stats(prefix: Path, *, warmup: float = 5.0) -> dict:
    """Per request name: count, failures, sustained req/s, percentiles (ms), 5xx and other errors."""
    stats_path = Path(f"{prefix}_stats.csv")
    if not stats_path.exists():
        return {}
    rows = list(csv.DictReader(stats_path.read_text().splitlines()))
    history = (
        list(csv.DictReader(Path(f"{prefix}_stats_history.csv").read_text().splitlines()))
        if Path(f"{prefix}_stats_history.csv").exists()
        else []
    )
    failures = (
        list(csv.DictReader(Path(f"{prefix}_failures.csv").read_text().splitlines()))
        if Path(f"{prefix}_failures.csv").exists()
        else []
    )
    by_name: dict[str, list[dict]] = defaultdict(list)
    for row in history:
        by_name[row["Name"]].append(row)
    out: dict[str, dict] = {}
    for row in rows:
        name = row["Name"]
        entry = {
            "type": row["Type"],
            "requests": int(row["Request Count"]),
            "failures": int(row["Failure Count"]),
            "rps_overall": _float(row["Requests/s"]),
            "ms": {p: _float(row.get(p)) for p in PERCENTILES},
            "median_ms": _float(row["Median Response Time"]),
            "avg_ms": _float(row["Average Response Time"]),
        }
        entry.update(_sustained(by_name.get(name, []), warmup))
        errors: dict[str, int] = defaultdict(int)
        for failure in failures:
            if failure["Name"] == name or (name == "Aggregated"):
                errors[failure["Error"]] += int(failure["Occurrences"])
        entry["errors"] = dict(errors)
        entry["http_5xx"] = sum(n for e, n in errors.items() if e.startswith("HTTP 5"))
        out[name] = entry
    return out


def _sustained(history: list[dict], warmup: float) -> dict:
    """Rate between the end of the ramp (+warmup) and the last row: what the load held, not its start."""
    points = [
        (int(r["Timestamp"]), int(r["Total Request Count"]), int(r.get("User Count") or 0))
        for r in history
        if r.get("Total Request Count") not in (None, "")
    ]
    if len(points) < 3:
        return {}
    users_max = max(p[2] for p in points)
    ramped = next((p[0] for p in points if p[2] >= users_max), points[0][0])
    start = next((p for p in points if p[0] >= ramped + warmup), points[0])
    end = points[-1]
    if end[0] <= start[0]:
        return {}
    return {"rps_sustained": round((end[1] - start[1]) / (end[0] - start[0]), 1), "window_seconds": end[0] - start[0]}


def history_series(prefix: Path, names: list[str]) -> dict[str, dict[str, list[float]]]:
    """{name: {"t": [...], "50%": [...], "95%": [...], "99%": [...], "rps": [...]}} for the plots."""
    path = Path(f"{prefix}_stats_history.csv")
    series: dict[str, dict[str, list[float]]] = {}
    if not path.exists():
        return series
    for row in csv.DictReader(path.open()):
        if row["Name"] not in names:
            continue
        entry = series.setdefault(row["Name"], {"t": [], "50%": [], "95%": [], "99%": [], "rps": []})
        values = [_float(row.get(k)) for k in ("50%", "95%", "99%")]
        if None in values:
            continue
        entry["t"].append(float(row["Timestamp"]))
        for key, value in zip(("50%", "95%", "99%"), values, strict=False):
            entry[key].append(value)
        entry["rps"].append(_float(row["Requests/s"]) or 0.0)
    return series


def load_journal(directory: Path, phase: str) -> list[dict]:
    records = []
    for path in sorted(directory.glob(f"{phase}-*.jsonl")):
        for line in path.read_text().splitlines():
            if line:
                records.append(json.loads(line))
    return records


def _copy(conn: psycopg.Connection, table: str, columns: str, rows: list[tuple]) -> None:
    conn.execute(f"CREATE TEMP TABLE {table} ({columns}) ON COMMIT DROP")
    with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def verify(url: str, records: list[dict]) -> dict:
    """Every request the users saw accepted, looked up in the database afterwards."""
    links = [(r["nonce"],) for r in records if r["k"] == "link"]
    replies = [(r["sid"],) for r in records if r["k"] == "sms"]
    nurses = [(r["cid"],) for r in records if r["k"] == "nurse"]
    expected: dict[str, int] = {}
    statuses = 0
    for r in records:
        if r["k"] == "status":
            statuses += 1
            expected[r["sid"]] = max(expected.get(r["sid"], 0), RANK.get(r["s"], 0))
    result: dict[str, dict] = {}
    with psycopg.connect(libpq(url)) as conn, conn.transaction():
        _copy(conn, "acc_link", "nonce text", links)
        found = conn.execute(
            "SELECT count(DISTINCT a.nonce) FROM acc_link a JOIN check_answer c "
            "ON c.idempotency_key LIKE 'link:%' AND split_part(c.idempotency_key, ':', 3) = a.nonce"
        ).fetchone()[0]
        result["answer_page"] = {"accepted": len(set(links)), "in_database": found}
        _copy(conn, "acc_sms", "sid text", replies)
        found = conn.execute(
            "SELECT count(*) FROM acc_sms a WHERE EXISTS (SELECT 1 FROM check_answer c WHERE c.idempotency_key = 'sms:' || a.sid) "
            "OR EXISTS (SELECT 1 FROM unmatched_reply u WHERE u.provider_message_id = a.sid)"
        ).fetchone()[0]
        unmatched = conn.execute(
            "SELECT count(*) FROM acc_sms a JOIN unmatched_reply u ON u.provider_message_id = a.sid"
        ).fetchone()[0]
        result["sms_reply"] = {"accepted": len(set(replies)), "in_database": found, "of_which_review_queue": unmatched}
        _copy(conn, "acc_nurse", "cid text", nurses)
        found = conn.execute(
            "SELECT count(*) FROM acc_nurse a JOIN check_answer c ON c.idempotency_key = 'nurse:' || a.cid"
        ).fetchone()[0]
        result["nurse"] = {"accepted": len(set(nurses)), "in_database": found}
        _copy(conn, "acc_status", "sid text, rank int", list(expected.items()))
        rank_sql = "CASE o.state " + " ".join(f"WHEN '{s}' THEN {r}" for s, r in RANK.items()) + " ELSE 0 END"
        found = conn.execute(
            f"SELECT count(*) FROM acc_status a JOIN outbox_message o ON o.provider_message_id = a.sid "
            f"WHERE {rank_sql} >= a.rank"
        ).fetchone()[0]
        early = conn.execute(
            "SELECT count(*) FROM acc_status a JOIN early_status e ON e.provider_message_id = a.sid"
        ).fetchone()[0]
        result["status"] = {
            "accepted_requests": statuses,
            "messages": len(expected),
            "state_at_least_reported": found,
            "held_as_early_status": early,
            "in_database": found + early,
        }
    for entry in result.values():
        accepted = entry.get("accepted", entry.get("messages", 0))
        entry["all_recorded"] = entry["in_database"] >= accepted
    return result


def sid_checks(url: str, sids: set[str]) -> dict[str, int]:
    if not sids:
        return {}
    with psycopg.connect(libpq(url)) as conn, conn.transaction():
        _copy(conn, "want_sid", "sid text", [(s,) for s in sids])
        rows = conn.execute(
            "SELECT o.provider_message_id, o.check_id FROM want_sid w "
            "JOIN outbox_message o ON o.provider_message_id = w.sid"
        ).fetchall()
    return {sid: check for sid, check in rows if check is not None}


def freshness(url: str, records: list[dict]) -> dict:
    """Answer accepted (POST returned) → the check in each viewer's stream. Per (answer, viewer)."""
    posted: dict[int, float] = {}
    by_sid: dict[str, float] = {}
    for r in records:
        if r["k"] == "link":
            by_sid[r["sid"]] = min(r["t"], by_sid.get(r["sid"], r["t"]))
        elif r["k"] == "sms":
            by_sid[r["orig"]] = min(r["t"], by_sid.get(r["orig"], r["t"]))
        elif r["k"] == "nurse":
            posted[r["c"]] = min(r["t"], posted.get(r["c"], r["t"]))
    for sid, check in sid_checks(url, set(by_sid)).items():
        posted[check] = min(by_sid[sid], posted.get(check, by_sid[sid]))
    seen: dict[str, dict[int, float]] = defaultdict(dict)
    for r in records:
        if r["k"] == "seen":
            mine = seen[r["v"]]
            for check in r["c"]:
                if check not in mine:
                    mine[check] = r["t"]
    latencies: list[float] = []
    worst: list[float] = []
    early = missing = 0
    for check, at in posted.items():
        per_answer = []
        for mine in seen.values():
            if check not in mine:
                missing += 1
                continue
            delta = mine[check] - at
            if delta < 0:
                early += 1  # the event overtook the POST's response on the way back; count it as 0
                delta = 0.0
            per_answer.append(delta)
        latencies.extend(per_answer)
        if per_answer:
            worst.append(max(per_answer))
    return {
        "answers": len(posted),
        "viewers": len(seen),
        "pairs": len(latencies),
        "missing_pairs": missing,
        "event_before_response": early,
        "ms_every_pair": _percentiles(latencies),
        "ms_slowest_viewer_per_answer": _percentiles(worst),
    }


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)

    def at(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000, 1)

    return {
        "n": len(ordered),
        "p50": at(50),
        "p95": at(95),
        "p99": at(99),
        "max": at(100),
        "mean": round(statistics.fmean(ordered) * 1000, 1),
    }


def per_second(times: list[float]) -> tuple[list[float], list[int]]:
    if not times:
        return [], []
    start = int(min(times))
    counts = [0] * (int(max(times)) - start + 1)
    for t in times:
        counts[int(t) - start] += 1
    return [start + i for i in range(len(counts))], counts


def send_figures(accepted_times: list[float], *, round_returned: float, round_requested: float, limit: float) -> dict:
    """Achieved send rate (simulator's accept times) and the time to the first message."""
    if not accepted_times:
        return {"messages": 0}
    times = sorted(accepted_times)
    span = times[-1] - times[0]
    out = {
        "messages": len(times),
        "first_after_request_s": round(times[0] - round_requested, 3),
        "first_after_round_committed_s": round(times[0] - round_returned, 3),
        "span_s": round(span, 1),
        "rate_per_s": round((len(times) - 1) / span, 1) if span > 0 else None,
    }
    # The same over the middle 90 % (excludes the first claim and the thin tail of retries).
    lo, hi = times[int(len(times) * 0.05)], times[int(len(times) * 0.95) - 1]
    if hi > lo:
        out["rate_middle_90_per_s"] = round(int(len(times) * 0.9) / (hi - lo), 1)
    if limit and out.get("rate_per_s"):
        out["ratio_to_limit"] = round(out["rate_per_s"] / limit, 3)
    return out


def database_timelines(url: str, round_id: int) -> dict:
    """Per-second counts from the database: messages marked sent, answers by channel."""
    with psycopg.connect(libpq(url)) as conn:
        sent = [
            r[0]
            for r in conn.execute(
                "SELECT extract(epoch FROM sent_at) FROM outbox_message WHERE round_id = %s AND sent_at IS NOT NULL",
                (round_id,),
            )
        ]
        answers: dict[str, list[float]] = defaultdict(list)
        for channel, t in conn.execute(
            "SELECT channel, extract(epoch FROM received_at) FROM check_answer WHERE round_id = %s", (round_id,)
        ):
            answers[channel].append(float(t))
        states = dict(
            conn.execute(
                "SELECT state, count(*) FROM outbox_message WHERE round_id = %s GROUP BY state", (round_id,)
            ).fetchall()
        )
        checks = dict(
            conn.execute(
                "SELECT state, count(*) FROM safety_check WHERE round_id = %s GROUP BY state", (round_id,)
            ).fetchall()
        )
        unmatched = conn.execute("SELECT count(*) FROM unmatched_reply").fetchone()[0]
    return {
        "sent": [float(t) for t in sent],
        "answers": dict(answers),
        "outbox_states": states,
        "check_states": checks,
        "unmatched_replies": unmatched,
    }


def parse_sim_time(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def csv_text(rows: list[list]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()
