"""The demo's sending side: the Twilio simulator, one worker and the scheduler, each in its own process."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from rich.console import Console

from bcp_service.channels.email import demo as email_demo
from bcp_service.cli.demo_process import spawn
from bcp_service.db import make_engine
from bcp_service.twilio_sim import SimConfig

console = Console()
ANSWER_MODE_SECONDS = 120  # the 2018 drill of 84,000 people: most answers at 2 minutes
SMS_SENDER = "BCPDEMO"  # Japan: SMS from an alphanumeric sender ID, calls from a 050 number
CALLER_ID = "+815011112222"


def demo_sending_env(sim_port: int) -> dict[str, str]:
    """Settings that point the sender at the local simulator (the environment may override each).

    The auth token is drawn for this demo and handed to the processes it starts through their
    environment: it is on no command line, in no log, and the simulator does not serve it.
    """
    sim = SimConfig()
    return {
        "BCP_NOTIFIER": "twilio",
        "BCP_TWILIO_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "BCP_TWILIO_ACCOUNT_SID": sim.account_sid,
        "BCP_TWILIO_AUTH_TOKEN": secrets.token_urlsafe(32),
        "BCP_TWILIO_SMS_SENDER": SMS_SENDER,
        "BCP_TWILIO_VOICE_CALLER_ID": CALLER_ID,
        # Slow enough to watch the counts move on a 3,000-patient round.
        "BCP_SEND_RATE_PER_SECOND": "50",
    } | email_demo.env(sim_port)  # e-mail goes to the demo's mail sink


def _command() -> str:
    return str(Path(sys.executable).parent / "bcp-service")


def start_demo_sending(
    base_url: str, sim_port: int, answer_rate: float, *, answer_speed: float, log_path: Path
) -> list[subprocess.Popen]:
    # Simulated patients answer over minutes, as in real drills (twilio_sim/answer_curve.py).
    sim = spawn(
        [
            _command(),
            "twilio-sim",
            "--port",
            str(sim_port),
            "--inbound-url",
            f"{base_url}/webhooks/twilio/inbound",
            "--answer-rate",
            str(answer_rate),
            "--answer-curve-mode",
            str(ANSWER_MODE_SECONDS),
            "--answer-speed",
            str(answer_speed),
            "--callback-delay-ms",
            "500",
        ],
        log_path,
    )  # inherits BCP_TWILIO_AUTH_TOKEN, the demo's own token
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and sim.poll() is None:
        try:
            httpx.get(f"http://127.0.0.1:{sim_port}/_sim/stats", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    # E-mail: the mail sink, and families reached only by e-mail (channels/email/demo.py).
    email_demo.add_email_families(make_engine(os.environ["BCP_DATABASE_URL"]))
    mail = email_demo.start_sink(*email_demo.ports(sim_port), lambda command: spawn(command, log_path))
    worker = spawn([_command(), "worker"], log_path)
    # Fires schedules, starts triggered rounds and escalates unanswered checks (docs/escalation.md).
    scheduler = spawn([_command(), "scheduler"], log_path)
    return [scheduler, worker, mail, sim]


def stop_demo_sending(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def _this_command() -> str:
    program = Path(sys.argv[0])
    if program.name != "bcp-service":
        return "bcp-service"
    try:
        return str(program.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(program)


def _tomorrow(hour: int) -> str:
    """An ISO time tomorrow at ``hour`` in Japan time, for the planned-shutoff example."""
    japan = timezone(timedelta(hours=9))
    day = datetime.now(japan).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=japan).isoformat()


def print_round_help(
    base_url: str, database: Path, *, sim_port: int, answer_rate: float, answer_speed: float, log_path: Path
) -> None:
    # soft_wrap: the command lines must stay whole to be copied. The command as this one was run
    # (".venv/bin/bcp-service" from the README), so the lines work without activating the venv.
    command = _this_command()
    planned_start, planned_end = _tomorrow(9), _tomorrow(15)
    lines = [
        "\n[bold]安否確認を試す (try a drill round)[/bold]",
        f"  Page: {base_url}/login?next=/rounds/new  ← chiba-pref / chiba-pref-demo-pass (area, preview, start)",
        f"  CLI:  BCP_DATABASE_URL=sqlite:///{database} {command} rounds start --municipality 121002 --drill",
        f"        BCP_DATABASE_URL=sqlite:///{database} {command} rounds show 1",
        f"  Pages: {base_url}/board (the board fills in live), {base_url}/nurse (a nurse's list of who to call)",
        "  API:",
        f"    TOKEN=$(curl -s -d 'username=chiba-pref&password=chiba-pref-demo-pass' {base_url}/api/v1/auth/token"
        " | python3 -c 'import sys,json;print(json.load(sys.stdin)[\"access_token\"])')",
        f"    curl -s -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' "
        f'-d \'{{"reason":"manual","drill":true,"target":{{"municipality_codes":["121002"]}}}}\' '
        f"{base_url}/api/v1/rounds",
        f'    curl -s -H "Authorization: Bearer $TOKEN" {base_url}/api/v1/rounds/1/summary',
        f"  模擬患者は約 {answer_rate:.0%} が回答リンクから答えます。実際の訓練と同じく多くは最初の数分"
        f"（最頻 2 分）、その後は長い裾野です{_speed_note(answer_speed)}。",
        f"  シミュレーターの電話 (each number's messages, tap the link to answer as the patient): "
        f"http://127.0.0.1:{sim_port}/_sim/phones",
        f"  デモのメール受信箱 (mail to families reached only by e-mail, 千葉市 121002's first patients; "
        f"tap the link to answer as the family): {email_demo.page_url(sim_port)}",
        f"  ログ (full logs): {log_path}",
        "\n[bold]事前連絡を試す (an advance-notice round before a typhoon)[/bold]",
        f"  Page: {base_url}/login?next=/rounds/new  ← chiba-pref: 送る内容「事前連絡」, area, preview, start; "
        "answer from the simulator's phones page (where will you stay?)",
        f"  CLI:  BCP_DATABASE_URL=sqlite:///{database} {command} rounds start --municipality 122050 "
        "--kind advance_notice --drill --title 台風接近に備えた事前連絡",
        "  Where each person will stay: the round's board (滞在予定 list, CSV（滞在予定）), the next safety "
        "check's lists, the nurse page and the registry "
        f"({base_url}/api/v1/patients?municipality_id=…: planned_stay, planned_stay_place); "
        "non-confirmers are resent, then family, then called (a notice call, keypad 1-6).",
        "  Outages are posted by the system role (jma-feed):",
        f"    SYS=$(curl -s -d 'username=jma-feed&password=jma-feed-demo-pass' {base_url}/api/v1/auth/token"
        " | python3 -c 'import sys,json;print(json.load(sys.stdin)[\"access_token\"])')",
        "    curl -s -H \"Authorization: Bearer $SYS\" -H 'Content-Type: application/json' "
        '-d \'{"source":"demo","outages":[{"id":"o1","municipality":"122050",'
        f'"started_at":"{planned_start}","expected_restoration_at":"{planned_end}","planned":true}}]}}\' '
        f"{base_url}/api/v1/outages   (a planned shutoff tomorrow: an advance notice for the ventilator and "
        'oxygen users of 館山市 a few minutes later; without "planned" and with a start in the past, a '
        "current outage)\n",
        "  止めるには Ctrl-C（起動したプロセスはすべて止まります）。\n",
    ]
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False)


def _speed_note(speed: float) -> str:
    if speed == 1:
        return "（--answer-speed 10 で 10 倍速）"
    return f"（--answer-speed {speed:g}: {speed:g} 倍速）"
