"""The demo's sending side: the Twilio simulator, one worker and the scheduler, each in its own process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console

from bcp_service.twilio_sim import SimConfig

console = Console()
SMS_SENDER = "BCPDEMO"  # Japan: SMS from an alphanumeric sender ID, calls from a 050 number
CALLER_ID = "+815011112222"


def demo_sending_env(sim_port: int) -> dict[str, str]:
    """Settings that point the sender at the local simulator (the environment may override each)."""
    sim = SimConfig()
    return {
        "BCP_NOTIFIER": "twilio",
        "BCP_TWILIO_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "BCP_TWILIO_ACCOUNT_SID": sim.account_sid,
        "BCP_TWILIO_AUTH_TOKEN": sim.auth_token,
        "BCP_TWILIO_SMS_SENDER": SMS_SENDER,
        "BCP_TWILIO_VOICE_CALLER_ID": CALLER_ID,
        # Slow enough to watch the counts move on a 3,000-patient round.
        "BCP_SEND_RATE_PER_SECOND": "50",
    }


def _command() -> str:
    return str(Path(sys.executable).parent / "bcp-service")


def start_demo_sending(base_url: str, sim_port: int, answer_rate: float) -> list[subprocess.Popen]:
    sim = subprocess.Popen([
        _command(), "twilio-sim", "--port", str(sim_port), "--inbound-url", f"{base_url}/webhooks/twilio/inbound",
        "--answer-rate", str(answer_rate), "--answer-delay-ms", "3000", "--callback-delay-ms", "500",
    ])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{sim_port}/_sim/stats", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    worker = subprocess.Popen([_command(), "worker"])
    # Fires schedules, starts triggered rounds and escalates unanswered checks (docs/escalation.md).
    scheduler = subprocess.Popen([_command(), "scheduler"])
    console.print(f"  Twilio シミュレーター: http://127.0.0.1:{sim_port}/_sim/stats  (送信ワーカー pid {worker.pid}, "
                  f"スケジューラー pid {scheduler.pid})")
    return [scheduler, worker, sim]


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


def print_round_help(base_url: str, database: Path) -> None:
    # soft_wrap: the command lines must stay whole to be copied. The command as this one was run
    # (".venv/bin/bcp-service" from the README), so the lines work without activating the venv.
    command = _this_command()
    lines = [
        "\n[bold]安否確認を試す (try a drill round)[/bold]",
        f"  CLI:  BCP_DATABASE_URL=sqlite:///{database} {command} rounds start --municipality 121002 --drill",
        f"        BCP_DATABASE_URL=sqlite:///{database} {command} rounds show 1",
        f"  Pages: {base_url}/board (the board fills in live), {base_url}/nurse (a nurse's list of who to call)",
        "  API:",
        f"    TOKEN=$(curl -s -d 'username=chiba-pref&password=chiba-pref-demo-pass' {base_url}/api/v1/auth/token"
        " | python3 -c 'import sys,json;print(json.load(sys.stdin)[\"access_token\"])')",
        f"    curl -s -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' "
        f"-d '{{\"reason\":\"manual\",\"drill\":true,\"target\":{{\"municipality_codes\":[\"121002\"]}}}}' "
        f"{base_url}/api/v1/rounds",
        f"    curl -s -H \"Authorization: Bearer $TOKEN\" {base_url}/api/v1/rounds/1/summary",
        "  The simulator answers about 60% of messages by opening their link; watch the summary fill in.\n",
    ]
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False)
