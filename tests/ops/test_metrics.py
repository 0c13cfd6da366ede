"""/metrics parses with Prometheus' own parser, is for operators only, and the alert rules are sound."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from bcp_service.models import OutboxMessage, ServiceHeartbeat
from bcp_service.models.base import utcnow
from tests.board.builders import build_round

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
PROMQL_WORDS = {
    "max",
    "min",
    "sum",
    "by",
    "without",
    "and",
    "or",
    "unless",
    "delta",
    "increase",
    "rate",
    "absent",
    "avg",
    "count",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "up",
}


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def seed(session, settings):
    scene = build_round(session, settings)
    now = utcnow()
    session.add(
        ServiceHeartbeat(
            instance_id="worker:h:1",
            name="worker",
            host="h",
            process_id=1,
            started_at=now,
            beat_at=now - timedelta(seconds=5),
            info={"provider_unavailable_since": now.isoformat(), "lanes_down": ["sms"]},
        )
    )
    session.add(
        OutboxMessage(
            round_id=scene.round.id, to_number="+819011112222", state="sent", sent_at=now - timedelta(seconds=10)
        )
    )
    session.add(
        OutboxMessage(
            round_id=scene.round.id,
            to_number="+819011113333",
            state="delivered",
            sent_at=now - timedelta(seconds=20),
            status_at=now - timedelta(seconds=16),
        )
    )
    session.add(
        OutboxMessage(
            round_id=scene.round.id,
            to_number="+819011114444",
            state="failed",
            last_error_code="21614",
            sent_at=now - timedelta(seconds=30),
            status_at=now,
        )
    )
    session.add(OutboxMessage(round_id=scene.round.id, to_number="+819011115555", state="queued", throttled=3))
    session.flush()
    return scene


def test_metrics_parse_and_say_what_operators_watch(client, session, settings):
    scene = seed(session, settings)
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    found = families(answer.text)

    def value(name, **labels):
        return next(s.value for s in found[name].samples if all(s.labels.get(k) == v for k, v in labels.items()))

    assert value("bcp_outbox_messages", lane="sms", state="sent") >= 1
    assert value("bcp_outbox_waiting_messages", lane="sms", state="queued") >= 1
    assert value("bcp_send_rate_per_second", lane="sms") > 0
    assert value("bcp_provider_answers", lane="sms", code="21614") == 1
    assert value("bcp_provider_throttled") == 3
    assert value("bcp_lane_paused", lane="sms") == 1
    assert 3 <= value("bcp_webhook_lag_seconds_max") <= 31
    assert value("bcp_outbox_oldest_unconfirmed_seconds") >= 9
    assert value("bcp_journal_writable") == 1 and value("bcp_journal_entries") == 0
    assert value("bcp_database_writable") == 1
    assert value("bcp_heartbeat_age_seconds", component="worker", instance="worker:h:1") >= 4
    assert value("bcp_round_checks", round=str(scene.round.id), state="no_answer") >= 1
    assert 0 < value("bcp_round_answered_ratio", round=str(scene.round.id)) < 1
    assert "+8190" not in answer.text  # counts only, never a person


def test_metrics_are_for_admins_or_the_metrics_token(app, client_as, anon_client, settings):
    assert anon_client.get("/metrics").status_code == 401  # a scraper gets 401, not the login page
    assert client_as("prefecture", 1).get("/metrics").status_code == 403
    assert client_as("admin").get("/metrics").status_code == 200
    app.state.settings = settings.model_copy(update={"metrics_token": SecretStr("scrape-token-for-tests-1234")})
    assert (
        anon_client.get("/metrics", headers={"Authorization": "Bearer scrape-token-for-tests-1234"}).status_code == 200
    )
    assert anon_client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_ops_page_shows_the_same_in_japanese(client, client_as, session, settings):
    seed(session, settings)
    page = client.get("/ops")
    assert page.status_code == 200
    html = page.text
    assert "運用状況" in html and 'id="lane-paused-sms"' in html and "21614" in html
    assert 'data-part="provider"' in html and "送信を一時停止" in html
    assert client_as("hub", 1).get("/ops").status_code == 403


def test_rules_file_is_valid_and_names_only_served_metrics(client, session, settings):
    seed(session, settings)
    served = set(families(client.get("/metrics").text))
    served |= {name + suffix for name in served for suffix in ("_total",)}
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    alerts = {}
    for group in rules["groups"]:
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
            assert rule["labels"]["severity"] in ("warning", "critical")
            assert re.fullmatch(r"\d+[smh]", rule["for"])
            assert rule["annotations"]["summary"]
            expr = rule["expr"]
            assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
            bare = re.sub(r'\{[^}]*\}|\[[^\]]*\]|"[^"]*"', "", expr)
            names = {w for w in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare) if w not in PROMQL_WORDS}
            names -= {w for w in names if re.fullmatch(r"\d+[smh]?", w)}
            labels = {"lane", "component"}
            assert names - labels <= served, f"{rule['alert']}: {names - labels - served} not served by /metrics"
            alerts[rule["alert"]] = expr
    for wanted in ("BcpLanePaused", "BcpQueueStalled", "BcpHeartbeatSilent", "BcpJournalGrowing"):
        assert wanted in alerts


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (the rules are parsed above)")
def test_promtool_checks_the_rules():
    result = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_prometheus_with_the_rules():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    prometheus = compose["services"]["prometheus"]
    mounts = " ".join(prometheus["volumes"])
    assert "deploy/prometheus/rules.yml" in mounts and "deploy/prometheus/prometheus.yml" in mounts
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules.yml"]
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics" and job["static_configs"][0]["targets"] == ["api:8000"]
    assert job["authorization"]["credentials_file"] in prometheus["entrypoint"][-1]
    assert "BCP_METRICS_TOKEN" in compose["x-app"]["environment"]
