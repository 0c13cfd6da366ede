"""The load harness's own machinery on tiny inputs (Locust itself is not run here)."""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from bcp_service.answer_tokens import new_answer_token
from bcp_service.live.sse import frame
from bcp_service.rounds.messages import render_message
from load_tests.burst import wire
from load_tests.burst.locust_run import Load, Phase, locust_command, phase_env
from load_tests.burst.processes import ProcessFailed, ProcessSet, wait_until
from load_tests.burst.profile import summarise
from load_tests.burst.report import _percentiles, per_second, phase_stats, send_figures

ROOT = Path(__file__).resolve().parents[2]
SLEEPER = [
    sys.executable,
    "-c",
    "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)",
]


def test_signature_is_what_the_service_checks():
    signer = wire.Signer("secret-token", "http://127.0.0.1:8000/")
    params = wire.status_params(
        account_sid="AC1", sid="SM1", status="delivered", to="+819000000001", from_="+815000000000"
    )
    signature = signer.sign(wire.STATUS_PATH, params)
    assert RequestValidator("secret-token").validate("http://127.0.0.1:8000/webhooks/twilio/status", params, signature)
    assert not RequestValidator("other").validate("http://127.0.0.1:8000/webhooks/twilio/status", params, signature)


def test_token_from_the_rendered_message():
    token = new_answer_token()
    body = render_message(
        "check_initial",
        drill=True,
        public_base_url="http://127.0.0.1:8123",
        token=token,
        sender="在宅医療",
        replies=False,
    )
    assert wire.token_from_body(body) == token
    assert wire.token_from_body("no link here") is None


def test_sse_parser_and_feed_checks_on_the_real_frame():
    message = {
        "type": "update",
        "answer_id": 7,
        "sections": {"a": '<li data-check="99">"check":5</li>'},
        "feed": [{"id": 7, "check": 12, "html": "<li>x</li>"}, {"id": 6, "check": 34, "html": ""}],
    }
    raw = (": keep-alive\n\n" + frame(message)).encode()
    parser = wire.SseParser()
    events = []
    for i in range(0, len(raw), 7):  # arrives in arbitrary pieces
        events += parser.feed(raw[i : i + 7])
    assert [e for e, _ in events] == ["update"]
    data = events[0][1]
    assert wire.feed_checks(data) == wire.feed_checks_slow(data) == [12, 34]


def test_receipt_plans_are_stable_and_mixed():
    plans = [wire.receipt_plan(f"SM{i}", undelivered_share=0.1, out_of_order_share=0.3) for i in range(2000)]
    assert plans[5] == wire.receipt_plan("SM5", undelivered_share=0.1, out_of_order_share=0.3)
    reversed_share = sum(p[0][0] != "sent" for p in plans) / len(plans)
    undelivered = sum(any(s == "undelivered" for s, _ in p) for p in plans) / len(plans)
    assert 0.2 < reversed_share < 0.4 and 0.05 < undelivered < 0.15
    assert {wire.bucket(f"SM{i}", 2) for i in range(50)} == {0, 1}


def test_process_set_stops_groups_with_children(tmp_path):
    started = time.monotonic()
    with ProcessSet(tmp_path / "logs") as procs:
        proc = procs.start("sleeper", SLEEPER)
        wait_until(lambda: len(_children(proc.pid)) == 1, timeout=10, what="child started")
        child = _children(proc.pid)[0]
        procs.check_alive()
    assert not proc.alive()
    # Signals are delivered asynchronously: the grandchild is gone (or a zombie) within moments.
    wait_until(
        lambda: not Path(f"/proc/{child}").exists() or _zombie(child), timeout=5, interval=0.05, what="grandchild ended"
    )
    assert time.monotonic() - started < 20
    assert (tmp_path / "logs" / "sleeper.log").exists()


def test_process_set_stops_everything_on_an_exception(tmp_path):
    with pytest.raises(RuntimeError), ProcessSet(tmp_path) as procs:
        proc = procs.start("sleeper", SLEEPER)
        raise RuntimeError("boom")
    assert not proc.alive()


def test_run_is_bounded_and_dead_processes_are_noticed(tmp_path):
    with ProcessSet(tmp_path) as procs:
        started = time.monotonic()
        assert procs.run("slow", SLEEPER, timeout=1) != 0
        assert time.monotonic() - started < 15
        assert procs.run("quick", [sys.executable, "-c", "pass"], timeout=30) == 0
        procs.check_alive()  # one-shot commands that ended are fine
        failing = procs.start("failing", [sys.executable, "-c", "raise SystemExit(3)"])
        failing.popen.wait(10)
        with pytest.raises(ProcessFailed):
            procs.check_alive()
    with pytest.raises(TimeoutError):
        wait_until(lambda: False, timeout=0.3, interval=0.05)


def test_phase_command_and_environment(tmp_path):
    phase = Phase("burst", "http://127.0.0.1:9", 30, {"AnswerPageUser": Load.paced(150), "BoardViewer": Load(50)})
    assert phase.users == 75 + 50
    command = locust_command(phase, tmp_path, processes=2)
    assert command[-2:] == ["AnswerPageUser", "BoardViewer"] and "--processes" in command
    assert "--run-time" in command and command[command.index("--run-time") + 1] == "30s"
    env = phase_env(phase, {"X": "1"}, processes=2, journal_dir=tmp_path)
    assert env["LOAD_ANSWER_USERS"] == "75" and float(env["LOAD_ANSWER_RATE"]) == pytest.approx(2.0)
    assert env["LOAD_VIEWER_RATE"] == "0" and env["LOAD_PROCESSES"] == "2"


def test_phase_stats_from_locust_csvs(tmp_path):
    prefix = tmp_path / "webhooks"
    header = [
        "Type",
        "Name",
        "Request Count",
        "Failure Count",
        "Median Response Time",
        "Average Response Time",
        "Requests/s",
        "50%",
        "95%",
        "99%",
        "100%",
    ]
    _write_csv(
        f"{prefix}_stats.csv",
        header,
        [["POST", "POST webhook status", "1000", "2", "10", "12", "90", "10", "30", "80", "120"]],
    )
    history = ["Timestamp", "User Count", "Type", "Name", "Requests/s", "50%", "95%", "99%", "Total Request Count"]
    rows = [
        [str(100 + t), str(min(8, 4 * t)), "POST", "POST webhook status", "100", "10", "30", "80", str(100 * t)]
        for t in range(12)
    ]
    _write_csv(f"{prefix}_stats_history.csv", history, rows)
    _write_csv(
        f"{prefix}_failures.csv",
        ["Method", "Name", "Error", "Occurrences"],
        [["POST", "POST webhook status", "HTTP 503", "2"]],
    )
    stats = phase_stats(prefix, warmup=2)["POST webhook status"]
    assert stats["requests"] == 1000 and stats["http_5xx"] == 2
    assert stats["rps_sustained"] == pytest.approx(100.0) and stats["ms"]["99%"] == 80


def test_figures_helpers():
    times = [1000.0 + i / 500 for i in range(1000)]
    figures = send_figures(times, round_returned=999.9, round_requested=999.0, limit=500)
    assert figures["ratio_to_limit"] == pytest.approx(1.0, abs=0.01)
    assert figures["first_after_round_committed_s"] == pytest.approx(0.1)
    assert per_second([1.2, 1.5, 3.0]) == ([1, 2, 3], [2, 0, 1])
    assert _percentiles([0.1] * 99 + [1.0])["p95"] == 100.0


def test_profile_summary(tmp_path):
    raw = tmp_path / "p.txt"
    raw.write_text(
        "process 1:a;run (x.py:1);validate (twilio/request_validator.py:10) 30\n"
        "process 1:a;run (x.py:1);execute (sqlalchemy/orm/session.py:5) 70\n"
    )
    summary = summarise(raw)
    assert summary["samples"] == 100
    assert dict(summary["inclusive_pct"])["run (x.py)"] == 100.0
    assert dict(summary["by_area_pct"])["signature check (twilio RequestValidator)"] == 30.0


def test_locustfile_imports():
    # Never import locust here: it monkey-patches the standard library for gevent, and every later
    # test in this process would hang. Look it up, then import it in a subprocess.
    if importlib.util.find_spec("locust") is None:
        pytest.skip("locust is not installed (pip install -e '.[load]')")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOAD_ANSWER_USERS": "3", "LOAD_CURVE_SECONDS": "60"}
    code = (
        "import load_tests.locustfile as f; assert f.AnswerPageUser.fixed_count == 3; "
        "import statistics; m = statistics.fmean(f.curve(t) for t in range(60)); assert 0.5 < m < 1.5, m"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def _write_csv(path: str, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
