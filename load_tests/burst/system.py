"""The processes of the system, as the load runner starts them natively.

The names are docker-compose.yml's service names: ``tests/test_compose.py`` checks that each one
runs the same ``bcp-service`` subcommand here and there. Kept free of heavy imports for that test.
"""

from __future__ import annotations

from pathlib import Path

SERVICES = ("migrate", "twilio-sim", "api", "worker", "scheduler")


def subcommand(command: list[str]) -> list[str]:
    """``["bcp-service", "db", "upgrade", "--x", "1"]`` -> ``["db", "upgrade"]``."""
    words = []
    for word in command[1:]:
        if word.startswith("-"):
            break
        words.append(word)
    return words


def commands(
    bin_dir: Path, *, api_port: int, sim_port: int, api_workers: int, rate_limit: float, sim_latency_ms: int
) -> dict[str, list[str]]:
    bcp = str(bin_dir / "bcp-service")
    return {
        "migrate": [bcp, "db", "upgrade"],
        "twilio-sim": [
            bcp,
            "twilio-sim",
            "--host",
            "127.0.0.1",
            "--port",
            str(sim_port),
            "--rate-limit",
            f"{rate_limit:g}",
            "--latency-ms",
            str(sim_latency_ms),
            "--seed",
            "7",
        ],
        "api": [bcp, "serve", "--host", "127.0.0.1", "--port", str(api_port), "--workers", str(api_workers)],
        "worker": [bcp, "worker"],
        "scheduler": [bcp, "scheduler"],
    }


def bare_command(bin_dir: Path, *, port: int, workers: int) -> list[str]:
    """The yardstick, served by uvicorn the way ``bcp-service serve`` serves the API (auto loop and parser)."""
    return [
        str(bin_dir / "uvicorn"),
        "load_tests.bare_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
