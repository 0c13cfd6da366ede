"""docker-compose.yml: it parses, names the services README.md describes, and runs real commands.

No Docker engine runs here, so the file is checked as data: every ``bcp-service`` command and
health check it names exists (typer's CliRunner runs it with ``--help``, so unknown options fail
too), every ``BCP_*`` variable is a setting, and each service runs the same subcommand the load
runner starts natively (``load_tests/burst/system.py``). ``docker compose config`` is run as well
where the client has the compose plugin.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bcp_service.cli import app as cli
from bcp_service.config import Settings
from load_tests.burst import system

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
REQUIRED = {"postgres", "migrate", "api", "worker", "scheduler", "twilio-sim"}
LONG_RUNNING = ("api", "worker", "scheduler")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _services(compose: dict) -> dict:
    return compose["services"]


def _bcp_commands(compose: dict):
    for name, service in _services(compose).items():
        command = service.get("command")
        if command and command[0] == "bcp-service":
            yield name, command
        test = (service.get("healthcheck") or {}).get("test") or []
        if len(test) > 1 and test[0] == "CMD" and test[1] == "bcp-service":
            yield f"{name} healthcheck", test[1:]


def test_names_every_service(compose):
    services = _services(compose)
    assert set(services) >= REQUIRED
    assert services["twilio-sim"].get("profiles") == ["simulator"], "the simulator is opt-in"
    assert services["scheduler"].get("deploy", {}).get("replicas", 1) == 1
    assert "ports" not in services["worker"] and "container_name" not in services["worker"], "workers must scale"
    assert "container_name" not in services["api"], "the API must scale"


def test_every_bcp_command_exists(compose):
    runner = CliRunner()
    found = dict(_bcp_commands(compose))
    assert {"migrate", "api", "worker", "scheduler", "twilio-sim"} <= set(found)
    for name, command in found.items():
        result = runner.invoke(cli, [*command[1:], "--help"])
        assert result.exit_code == 0, f"{name}: `{' '.join(command)}` is not a working command:\n{result.output}"


def test_health_checks(compose):
    services = _services(compose)
    for name in ("postgres", *LONG_RUNNING):
        check = services[name].get("healthcheck")
        assert check and check.get("test"), f"{name} has no health check"
    api_check = " ".join(services["api"]["healthcheck"]["test"])
    assert "/healthz" in api_check
    for name in ("api", "worker", "scheduler"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_healthz_route_exists():
    from bcp_service.app import create_app

    app = create_app(Settings(database_url="sqlite://", environment="test"))
    assert "/healthz" in {getattr(route, "path", None) for route in app.routes}


def test_settings_are_real(compose):
    fields = set(Settings.model_fields)
    anchors = compose.get("x-app", {}).get("environment", {})
    env_names = set(anchors)
    for service in _services(compose).values():
        env = service.get("environment") or {}
        env_names |= set(env if isinstance(env, dict) else (e.split("=", 1)[0] for e in env))
    unknown = sorted(n for n in env_names if n.startswith("BCP_") and n[4:].lower() not in fields)
    assert not unknown, f"not settings of bcp_service.config.Settings: {unknown}"


def test_same_processes_as_the_load_runner(compose):
    native = system.commands(Path("/bin"), api_port=1, sim_port=2, api_workers=2, rate_limit=500, sim_latency_ms=0)
    services = _services(compose)
    for name in system.SERVICES:
        composed = services[name]["command"]
        assert system.subcommand(composed) == system.subcommand(native[name]), name


def test_readme_describes_the_same_services(compose):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Deployment", 1)
    assert len(section) == 2, "README.md has no '## Deployment' section"
    body = section[1].split("\n## ", 1)[0]
    described = set(re.findall(r"^\| `([a-z0-9-]+)` \|", body, flags=re.MULTILINE))
    assert described == set(_services(compose)), "README's service table and docker-compose.yml differ"


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client")
def test_docker_compose_config():
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("docker client without the compose plugin")
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"BCP_SECRET_KEY": "compose-config-check", "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    assert result.returncode == 0, result.stderr


def test_heartbeat_check_reads_this_hosts_heartbeats(tmp_path, monkeypatch):
    from bcp_service import heartbeat, migrations
    from bcp_service.config import get_settings
    from bcp_service.db import make_engine, make_session_factory

    url = f"sqlite:///{tmp_path / 'beat.sqlite3'}"
    monkeypatch.setenv("BCP_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        engine = make_engine(url)
        migrations.upgrade(engine)
        factory = make_session_factory(engine)
        runner = CliRunner()
        assert runner.invoke(cli, ["heartbeat", "check", "worker"]).exit_code == 1
        assert runner.invoke(cli, ["heartbeat", "check", "scheduler"]).exit_code == 1
        heartbeat.start_worker(factory, "w-1")
        heartbeat.beat(factory, instance_id="s-1", name="scheduler")
        assert runner.invoke(cli, ["heartbeat", "check", "worker"]).exit_code == 0
        assert runner.invoke(cli, ["heartbeat", "check", "scheduler"]).exit_code == 0
        heartbeat.beat(factory, instance_id="s-1", name="scheduler", stopped=True)
        assert runner.invoke(cli, ["heartbeat", "check", "scheduler"]).exit_code == 1
        engine.dispose()
    finally:
        get_settings.cache_clear()


def test_the_service_connects_as_its_own_role_not_the_admin(compose):
    """Issue 23.3: the long-running services use the login role `migrate` creates (``--service-role``),
    never the PostgreSQL superuser the container creates, which only `migrate` uses."""
    services = _services(compose)
    admin = services["postgres"]["environment"]["POSTGRES_USER"]
    user_of = lambda url: re.match(r"postgresql://([^:@]+)", url).group(1)  # noqa: E731
    service_url = compose["x-app"]["environment"]["BCP_DATABASE_URL"]
    migrate = services["migrate"]
    role = migrate["command"][migrate["command"].index("--service-role") + 1]
    assert user_of(service_url) == role != admin
    assert user_of(migrate["environment"]["BCP_DATABASE_URL"]) == admin
    for name in ("api", "worker", "scheduler", "feeds"):
        env = services[name].get("environment") or compose["x-app"]["environment"]
        assert user_of(env["BCP_DATABASE_URL"]) == role, name
