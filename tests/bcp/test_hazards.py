"""Hazard sections (earthquake, typhoon timeline, long blackout) and the power-needs form, read back from the .docx."""

from __future__ import annotations

import io

import docx

from tests.bcp.registry import build_area


def test_every_plan_kind_reads_back_with_its_hazard_sections_and_power_form(client, session):
    area = build_area(session)
    for institution in (area.clinic, area.support_clinic, area.station, area.active):
        response = client.post(f"/api/v1/institutions/{institution.id}/bcp-drafts", json={})
        assert response.status_code == 201, response.text
        document = docx.Document(io.BytesIO(client.get(response.json()["docx_url"]).content))
        headings = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
        for title in (
            "災害別の対応：地震",
            "災害別の対応：台風・大雨（上陸72時間前からのタイムライン）",
            "災害別の対応：長時間停電",
            "様式4-2 電源の必要量と災害時に過ごす場所",
        ):
            assert any(title in h for h in headings), (institution.name, title, headings)

        timeline = next(t for t in document.tables if [c.text for c in t.rows[0].cells][:2] == ["時期", "施設の行動"])
        assert [row.cells[0].text for row in timeline.rows[1:]] == [
            "72時間前",
            "48時間前",
            "24時間前",
            "12時間前",
            "6時間前〜上陸",
            "通過後",
        ]
        assert "事前連絡" in timeline.rows[2].cells[2].text

        power = next(t for t in document.tables if "消費電力" in [c.text for c in t.rows[0].cells])
        rows = {row.cells[1].text: [c.text for c in row.cells] for row in power.rows[1:]}
        vent = area.patients["clinic_vent"].name
        if vent in rows:
            assert rows[vent][3] == "120W" and rows[vent][4] == "11.0時間"
            assert rows[vent][5] == "なし" and rows[vent][6] == "あり" and rows[vent][7] == "自宅"


def test_missing_power_needs_are_blanks_to_fill_in(client, session):
    area = build_area(session)
    patient = area.patients["clinic_vent"]
    patient.device_watts = None
    session.add(patient)
    session.flush()
    draft = client.post(f"/api/v1/institutions/{area.clinic.id}/bcp-drafts", json={}).json()
    page = client.get(draft["preview_url"])
    assert f"{patient.name}：消費電力" in page.text
