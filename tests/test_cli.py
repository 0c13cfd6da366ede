"""The command line against a temporary SQLite database."""

import pytest
from typer.testing import CliRunner

from bcp_service.cli import app
from bcp_service.config import get_settings


@pytest.fixture
def cli_db(tmp_path, monkeypatch):
    monkeypatch.setenv("BCP_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_db_seed_users_and_coverage(cli_db):
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    seeded = runner.invoke(app, ["seed", "--patients", "200"])
    assert seeded.exit_code == 0, seeded.output
    created = runner.invoke(app, ["users", "create", "ops-admin", "--role", "admin"], input="a-long-password\n")
    assert created.exit_code == 0, created.output
    duplicate = runner.invoke(app, ["users", "create", "ops-admin", "--role", "admin"], input="a-long-password\n")
    assert duplicate.exit_code == 1
    no_scope = runner.invoke(app, ["users", "create", "hub-user", "--role", "hub"], input="a-long-password\n")
    assert no_scope.exit_code == 1 and "scope" in no_scope.output
    token = runner.invoke(app, ["users", "token", "ops-admin", "--name", "feed"])
    assert token.exit_code == 0 and "bcpi_" in token.output
    gaps = runner.invoke(app, ["coverage-gaps"])
    assert gaps.exit_code == 0 and "8 / 22" in gaps.output and "拠点のない市町村 (11)" in gaps.output
