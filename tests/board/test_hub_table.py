"""The board's hub table names each person's 連携拠点 (issue 27.9): a patient registered without one is
filed under the hub covering the municipality when the round starts; only where no hub covers the
municipality does the row say so, never 「（不明）」."""

from __future__ import annotations

import re

from sqlmodel import select

from bcp_service.models import SafetyCheck
from tests.factories import create_institution, create_municipality, create_patient, designate


def _hub_rows(html: str) -> dict[str, str]:
    table = html.split("<caption>連携拠点</caption>")[1].split("</table>")[0]
    return dict(re.findall(r'<th scope="row">([^<]+)</th><td class="num">([\d,]+)<', table))


def test_checks_take_the_covering_hub_and_the_table_names_it(client, session, scene):
    checks = session.exec(select(SafetyCheck).where(SafetyCheck.round_id == scene.round.id)).all()
    city = {p.id for p in vars(scene.people).values() if p.municipality_id == scene.area.city.id}
    assert all(p.hub_id is None for p in vars(scene.people).values())  # registered without a 連携拠点
    assert {c.hub_id for c in checks if c.patient_id in city} == {scene.area.hub.id}
    # The town has no hub: its one person is counted where no hub covers them.
    assert [c.hub_id for c in checks if c.patient_id not in city] == [None]

    rows = _hub_rows(client.get(f"/board/rounds/{scene.round.id}").text)
    assert rows == {scene.area.hub.name: "7", "（連携拠点なし）": "1"}
    assert "（不明）" not in rows


def test_a_hub_chosen_by_hand_wins_over_the_covering_one(client, session, settings):
    from bcp_service.rounds.service import Actor, start_round
    from bcp_service.rounds.targets import RoundTarget
    from tests.board.builders import build_area, phone

    area = build_area(session)
    other = create_institution(session, area.city, kind="medical_association", name="選んだ拠点")
    designate(session, other, area.region, "hub", covers=[create_municipality(session, area.prefecture)])
    chosen = create_patient(session, area.city, phones=[phone()], hub_id=other.id)
    plain = create_patient(session, area.city, phones=[phone()])
    safety_round, _ = start_round(
        session=session,
        actor=Actor.system("test"),
        target=RoundTarget(municipality_ids=[area.city.id]),
        reason="manual",
        drill=True,
        settings=settings,
        title="拠点",
    )
    hubs = {
        c.patient_id: c.hub_id for c in session.exec(select(SafetyCheck).where(SafetyCheck.round_id == safety_round.id))
    }
    assert hubs == {chosen.id: other.id, plain.id: area.hub.id}
