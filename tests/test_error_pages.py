"""People get Japanese error pages; programs keep JSON."""

from __future__ import annotations

from fastapi import Depends
from fastapi.testclient import TestClient

from bcp_service.auth.deps import Access


def test_unknown_page_is_a_japanese_html_404(anon_client):
    response = anon_client.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "ページが見つかりません" in response.text and "Not Found" not in response.text


def test_unknown_api_path_keeps_json(anon_client):
    response = anon_client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")


def test_a_missing_round_on_the_board_is_a_page(client):
    response = client.get("/board/rounds/999999")
    assert response.status_code == 404
    assert "ページが見つかりません" in response.text


def test_server_errors_are_a_japanese_page_for_people_and_json_for_programs(app):
    boom = Depends(Access(public="test route"))

    @app.get("/test-boom", dependencies=[boom])
    def page_boom():
        raise RuntimeError("boom")

    @app.get("/api/v1/test-boom", dependencies=[boom])
    def api_boom():
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        page = client.get("/test-boom")
        api = client.get("/api/v1/test-boom")
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "システムエラー" in page.text and "Internal Server Error" not in page.text
    assert api.status_code == 500 and api.json()["detail"].startswith("内部エラー")


def test_a_page_form_with_bad_input_answers_a_japanese_page(anon_client):
    response = anon_client.post("/login", data={"username": "x" * 100, "password": "p", "csrf_token": "t"})
    assert response.status_code == 422 and response.headers["content-type"].startswith("text/html")
    assert "ユーザー名: 64文字以内にしてください" in response.text
    missing = anon_client.post("/login", data={"username": "someone"})
    assert "パスワード: 入力してください" in missing.text and "Field required" not in missing.text


def test_api_validation_stays_json(client):
    response = client.get("/api/v1/patients", params={"limit": "many"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "limit"
