"""Headers on every response, body limits before parsing, big integers and failing statements (issue 12.6-12.9)."""

from __future__ import annotations

import logging

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from sqlalchemy import text

from bcp_service.auth.deps import Access
from bcp_service.db import read_only
from tests.factories import create_municipality, create_prefecture


def test_every_response_carries_the_security_headers(client, anon_client):
    for response in (
        client.get("/api/v1/patients"),
        anon_client.get("/login"),
        anon_client.get("/api/v1/patients"),
        client.get("/openapi.json"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["referrer-policy"]
    page = anon_client.get("/login")
    assert page.headers["x-frame-options"] == "DENY" and "script-src 'self'" in page.headers["content-security-policy"]
    assert "strict-transport-security" not in page.headers  # the test server's public URL is http


def test_hsts_when_the_public_url_is_https(settings, engine):
    from bcp_service.app import create_app

    https = settings.model_copy(update={"public_base_url": "https://bcp.example.jp"})
    with TestClient(create_app(https, engine)) as c:
        assert c.get("/login").headers["strict-transport-security"].startswith("max-age=")


def test_a_large_body_is_refused_before_parsing_and_before_authentication(anon_client, settings):
    limit = settings.api_max_body_bytes
    big = b'{"name": "' + b"x" * (limit + 10) + b'"}'
    response = anon_client.post("/api/v1/patients", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "too large" in response.json()["detail"][0]["msg"]

    def chunks():  # no Content-Length: the limit is counted while reading
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    streamed = anon_client.post("/api/v1/patients", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and "too large" in str(streamed.json()["detail"])
    assert anon_client.post("/webhooks/twilio/inbound", content=b"a" * 70_000).status_code == 413


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/patients/{big}",
        "/api/v1/patients?municipality_id={big}",
        "/api/v1/institutions/{big}",
        "/api/v1/audit?patient_id={big}",
        "/api/v1/rounds/{big}",
    ],
)
def test_integers_beyond_64_bits_are_4xx_not_500(client, url):
    response = client.get(url.format(big=2**70))
    assert 400 <= response.status_code < 500, (url, response.status_code)


def test_integer_beyond_64_bits_in_a_body_is_422(client, session):
    city = create_municipality(session, create_prefecture(session))
    body = {"name": "範囲外病院", "kind": "clinic", "municipality_id": city.id, "phone": None}
    assert client.post("/api/v1/institutions", json={**body, "municipality_id": 2**70}).status_code == 422


def test_an_unhandled_database_error_is_logged_without_row_values(app, session, caplog):
    name = "範囲外 太郎"

    @app.get("/api/v1/_test_failing_statement", dependencies=[Depends(Access(public="test only"))])
    def failing() -> None:
        # read_only: on SQLite a plain BEGIN, so the statement fails at once instead of first waiting 30 s for
        # the write lock the test's own session holds.
        with read_only(app.state.engine).begin() as connection:
            connection.execute(text("SELECT id FROM no_such_table WHERE name = :name"), {"name": name})

    with caplog.at_level(logging.INFO), TestClient(app, raise_server_exceptions=False) as c:
        response = c.get("/api/v1/_test_failing_statement")
    assert response.status_code == 500 and name not in response.text
    assert "http.unhandled_error" in caplog.text and name not in caplog.text
