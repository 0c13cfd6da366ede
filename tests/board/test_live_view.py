"""The view a watcher keeps: updates carry only what changed, read from counters or a scoped GROUP BY."""

from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.board.counts import ViewSpec, groups_as_counters, scan_groups, uses_counters
from bcp_service.board.live_view import BoardView, RoundSource
from bcp_service.board.schemas import BoardFilters
from bcp_service.board.service import parse_filters
from bcp_service.rounds.counters import read_counters
from tests.board.builders import record


def spec(scene, role=Role.admin, scope_id=None, filters=None, user_id=1, min_cell=0):
    principal = Principal(user_id=user_id, username="t", role=role, scope_id=scope_id)
    return ViewSpec.of(scene.round.id, principal, filters or BoardFilters(), min_cell)


def loaded(session, settings, scene, **kw):
    source = RoundSource(scene.round.id)
    view = BoardView(spec(scene, **kw), settings, list_seconds=0, heavy_seconds=0)
    wake = source.read(session, advance=False)
    view.load(session, wake)
    source.start_at(wake.last_answer_id, session)
    return source, view


def test_update_carries_the_new_answer_and_changed_sections_only(session, settings, scene):
    source, view = loaded(session, settings, scene)
    snapshot = view.snapshot()
    assert snapshot["type"] == "snapshot" and snapshot["total"] == 8 and snapshot["answered"] == 5
    assert set(snapshot["sections"]) == {
        "counts",
        "grid",
        "areas",
        "priority",
        "priority_total",
        "silent",
        "silent_total",
    }
    assert len(snapshot["feed"]) == 5

    assert view.refresh(session, source.read(session)) is None  # nothing happened

    answer = record(session, scene.checks["silent_critical"], "needs_help")
    message = view.refresh(session, source.read(session))
    assert message["type"] == "update" and message["answered"] == 6
    assert [item["id"] for item in message["feed"]] == [answer.id]
    assert (
        "未回答 重症" in message["feed"][0]["html"]
        and f'data-check="{scene.checks["silent_critical"].id}"' in message["feed"][0]["html"]
    )
    assert {"counts", "priority", "silent"} <= set(message["sections"])
    assert message["answer_id"] == answer.id and message["point"][1] == 6
    assert view.snapshot()["feed"][0]["id"] == answer.id


def test_state_change_without_an_answer_is_seen(session, settings, scene):
    """The worker's delivery_failed moves the counters without a new answer row."""
    from bcp_service.rounds.counters import CheckKeys, move_counters

    source, view = loaded(session, settings, scene)
    before = source.signature(session)
    check = scene.checks["silent_standard"]
    move_counters(session=session, moves=[(CheckKeys.of(check), "no_answer", "delivery_failed")])
    check.state = "delivery_failed"
    session.add(check)
    session.flush()
    assert source.signature(session) != before  # what SQLite's poll (and PostgreSQL's safety poll) notices
    message = view.refresh(session, source.read(session))
    assert message is not None and "counts" in message["sections"] and message["feed"] == []
    assert '"delivery_failed">1<' in message["sections"]["counts"]


def test_whole_round_views_read_counters_and_scoped_views_agree_with_them(session, scene):
    counters = read_counters(session=session, round_id=scene.round.id)
    admin = spec(scene)
    assert uses_counters(admin, counters, None)
    assert not uses_counters(spec(scene, filters=BoardFilters(risk_tier="critical")), counters, None)
    assert not uses_counters(spec(scene, role=Role.hub, scope_id=scene.area.hub.id), counters, None)
    prefecture = spec(scene, role=Role.prefecture, scope_id=scene.area.prefecture.id)
    keys = {str(scene.area.city.id), str(scene.area.town.id)}
    assert uses_counters(prefecture, counters, keys)
    assert not uses_counters(prefecture, counters, {str(scene.area.city.id)})
    scanned = groups_as_counters(scan_groups(session, admin))
    for dimension in ("all", "region", "municipality", "hub"):
        assert scanned.get(dimension) == counters.get(dimension)


def test_aggregate_view_has_counts_and_no_people(session, settings, scene):
    source, view = loaded(session, settings, scene, role=Role.aggregate, min_cell=10)
    snapshot = view.snapshot()
    assert set(snapshot["sections"]) == {"counts", "grid", "areas"} and snapshot["feed"] == []
    record(session, scene.checks["silent_critical"], "safe")
    message = view.refresh(session, source.read(session))
    # The scene is smaller than min_cell: every count is hidden, so an answer changes nothing shown.
    assert message is None or (
        message["feed"] == [] and not any(p.name in str(message) for p in vars(scene.people).values())
    )
    assert view.counts.total is None and view.counts.by_state and set(view.counts.by_state.values()) == {None}
    assert view.shown_patient_ids == set()


def test_nurse_view_depends_on_the_account_but_hub_view_does_not(scene):
    a = spec(scene, role=Role.nurse, scope_id=5, user_id=1)
    b = spec(scene, role=Role.nurse, scope_id=5, user_id=2)
    assert a != b
    assert spec(scene, role=Role.hub, scope_id=5, user_id=1) == spec(scene, role=Role.hub, scope_id=5, user_id=2)


def test_filters_are_parsed_leniently():
    assert parse_filters("3", "", "oxygen", "critical") == BoardFilters(
        region_id=3, therapy="oxygen", risk_tier="critical"
    )
    assert parse_filters("x", "-1", "unicorn", "") == BoardFilters()
    assert BoardFilters(hub_id=2).query() == {"hub_id": "2"}


def test_an_answer_that_commits_after_a_later_id_is_still_listed(session, settings, scene):
    """Ids are given out at insert, transactions commit in any order: a cursor "id > last" would skip one."""
    source, view = loaded(session, settings, scene)
    early = record(session, scene.checks["silent_critical"], "safe")
    late = record(session, scene.checks["silent_standard"], "safe")
    source.seen.add(late.id)  # as if ``late`` had committed, and been passed on, before ``early`` was visible
    view._known.append(late.id)
    wake = source.read(session)
    assert wake.new_answer_ids == [early.id]
    message = view.refresh(session, wake)
    assert [item["id"] for item in message["feed"]] == [early.id]
    assert source.read(session).new_answer_ids == []


def test_lists_and_tables_wait_their_interval_but_counts_and_feed_do_not(session, settings, scene):
    source = RoundSource(scene.round.id)
    view = BoardView(spec(scene), settings)  # the production intervals
    wake = source.read(session, advance=False)
    view.load(session, wake)
    source.start_at(wake.last_answer_id, session)
    answer = record(session, scene.checks["silent_critical"], "needs_help")
    message = view.refresh(session, source.read(session))
    assert [item["id"] for item in message["feed"]] == [answer.id] and "counts" in message["sections"]
    assert "priority" not in message["sections"] and "areas" not in message["sections"]
    assert message["sections"]["priority_total"] == "5 人" and view.pending
    view._slow_at = view._heavy_at = 0.0  # the intervals have passed
    later = view.refresh(session, source.read(session))
    assert "未回答 重症" in later["sections"]["priority"] and "areas" in later["sections"] and not view.pending
