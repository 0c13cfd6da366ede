"""``bcp-service demo`` as a user runs it: stopping it leaves no process behind; a busy port is refused."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

COMMAND = str(Path(sys.executable).parent / "bcp-service")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("BCP_")}


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its parent's wait is missing


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=["kill", "terminal-closed", "kill-9"]
)
def test_stopping_the_demo_stops_every_process_it_started(tmp_path: Path, signum):
    port, sim_port = _free_port(), _free_port()
    demo = subprocess.Popen(
        [
            COMMAND,
            "demo",
            "--patients",
            "20",
            "--port",
            str(port),
            "--sim-port",
            str(sim_port),
            "--data-dir",
            str(tmp_path),
        ],
        env=_env(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        started: set[int] = set()
        while len(started) < 3:  # the simulator, the worker and the scheduler
            assert demo.poll() is None, demo.stdout.read().decode()
            assert time.monotonic() < deadline, "the demo did not start its processes"
            started = _descendants(demo.pid)
            time.sleep(0.3)
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the demo's server did not answer"
            time.sleep(0.3)
        assert httpx.get(f"http://127.0.0.1:{sim_port}/_sim/phones", timeout=5).status_code == 200
        started = _descendants(demo.pid)
        demo.send_signal(signum)
        demo.wait(30)
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [pid for pid in started if _alive(pid)] == []
        output = demo.stdout.read().decode()
        if signum != signal.SIGKILL:
            assert "デモを停止しました" in output
        assert "Traceback" not in output
        assert (tmp_path / "demo.log").stat().st_size > 0  # the logs went to the file, not the terminal
    finally:
        if demo.poll() is None:
            demo.kill()
        for pid in _descendants(demo.pid):
            os.kill(pid, signal.SIGKILL)


def test_a_port_in_use_is_refused_with_a_clear_message(tmp_path: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [
                COMMAND,
                "demo",
                "--patients",
                "0",
                "--port",
                str(port),
                "--sim-port",
                str(_free_port()),
                "--data-dir",
                str(tmp_path),
            ],
            env=_env(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert f"ポート {port} は既に使われています" in result.stdout
    assert "http://127.0.0.1" not in result.stdout  # no instructions for a server that never started
