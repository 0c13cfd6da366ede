"""A database outage met by many requests: a page says so (503), the log says it once with a count
(issue 28.4: one disk-full minute wrote 10,256 traceback lines to the API log)."""

from __future__ import annotations

import logging

from sqlalchemy.exc import OperationalError


def test_an_outage_met_by_pages_and_the_api_logs_one_line_not_a_traceback_each(working_client, monkeypatch, caplog):
    from bcp_service import app as app_module
    from bcp_service.auth import deps
    from bcp_service.ratelog import RepeatLog

    # A fresh window: an earlier test's outage in this process must not hide this one's first line.
    monkeypatch.setattr(app_module, "quiet_log", RepeatLog(app_module.log, interval=60))

    def refused(*_args, **_kwargs):
        raise OperationalError("SELECT api_token", {}, Exception("could not extend file: No space left on device"))

    monkeypatch.setattr(deps, "resolve_principal", refused)
    caplog.set_level(logging.INFO)
    for _ in range(30):
        page = working_client.get("/board", headers={"Accept": "text/html"})
        assert page.status_code == 503 and "データベースに接続できないか書き込めません" in page.text
        assert working_client.get("/api/v1/system/status").status_code == 503
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and lines[0].message == "http.database_unavailable" and not lines[0].exc_info
