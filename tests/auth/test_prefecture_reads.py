"""A prefecture reads only its own trigger records and decisions (issue 23): another prefecture's quakes,
pending starts and excluded towns stay out of its API and its /triggers page."""

from __future__ import annotations

from tests.world import World, world3  # noqa: F401 (fixture)


def test_trigger_records_and_decisions_stay_in_their_prefecture(world3: World, session):
    session.commit()
    for account in (a for a in world3.accounts if a.role == "prefecture"):
        own = world3.lands[account.prefecture]
        others = {land.record_id for code, land in world3.lands.items() if code != account.prefecture}
        listed = account.api.get("/api/v1/triggers/events?limit=200")
        assert listed.status_code == 200, listed.text
        ids = {r["id"] for r in listed.json()["items"]}
        assert own.record_id in ids and not ids & others
        assert listed.json()["total"] == len(ids)
        decisions = account.api.get("/api/v1/triggers/decisions?limit=200").json()["items"]
        own_codes = {m.code for m in own.municipalities}
        assert all(set(d["municipalities"]) & own_codes or set(d["excluded"]) & own_codes for d in decisions)
        page = account.page.get("/triggers")
        assert page.status_code == 200
        for code, land in world3.lands.items():
            if code != account.prefecture:
                assert all(m.name not in page.text for m in land.municipalities)
    everything = world3.admin.get("/api/v1/triggers/events?limit=200").json()
    assert {land.record_id for land in world3.lands.values()} <= {r["id"] for r in everything["items"]}
