"""An import without a file answers in the documented report shape (issue 23), not FastAPI's default."""

from __future__ import annotations

from bcp_service.imports.report import ImportReport


def test_an_import_without_a_file_answers_with_the_report(client):
    for kind in ("patients", "institutions"):
        for request in (
            {},
            {"data": {"other": "x"}},
            {"files": {"other": ("a.csv", b"x", "text/csv")}},
            {"data": {"file": "not a file"}},
        ):
            response = client.post(f"/api/v1/imports/{kind}?dry_run=true", **request)
            assert response.status_code == 422, response.text
            report = ImportReport.model_validate(response.json())
            assert report.kind == kind and report.errors_total == 1 and not report.written
            assert report.errors[0].reason.startswith("CSV または Excel (.xlsx) のファイルを選んで")
