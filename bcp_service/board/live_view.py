"""What a watcher reads for a round on each wake-up, and one board view kept up to date from it.

A wake-up costs O(counter keys) plus the new answer ids for the round (``RoundSource.read``); each
distinct view (role, scope, filters) then reads the top of its lists. Views of the whole round get
their counts from the counters; scoped or filtered views from one GROUP BY over their own checks.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from sqlalchemy import func
from sqlmodel import Session, col, select

from bcp_service.auth.roles import Role
from bcp_service.board import lists, render
from bcp_service.board.counts import (
    AreaNames,
    ViewSpec,
    groups_as_counters,
    load_names,
    prefecture_municipality_keys,
    scan_groups,
    summarise,
    uses_counters,
)
from bcp_service.board.schemas import Counts
from bcp_service.config import Settings
from bcp_service.models import CheckAnswer, SafetyCheck, SafetyRound
from bcp_service.outages.service import power_out_municipality_ids
from bcp_service.rounds.counters import read_counters

FEED_SIZE = 30
NEW_ANSWERS_PER_WAKE = 200  # the feed shows the newest; older ones of a huge burst are counted, not listed
WINDOW_LIMIT = 20_000
SETTLE_SECONDS = 60.0  # without notifications, an answer committed later than this after its insert is not listed
LIST_SECONDS = 1.0  # the lists, and counts that need a scan, are read again at most this often
HEAVY_SECONDS = 1.0  # the area tables and grid (the costly sections) are redrawn at most this often
MAX_POINTS = 2000


@dataclass
class Wake:
    round_id: int
    drill: bool
    round_state: str
    counters: dict
    names: AreaNames
    last_answer_id: int
    new_answer_ids: list[int] = field(default_factory=list)
    reviews: tuple = ()  # the round's replies waiting unread (rounds.triage): they change the lists


class RoundSource:
    """The reads one round's watcher shares between all its views.

    Which answers are new: on PostgreSQL the notifications name them, at commit. Otherwise (SQLite,
    or after a lost LISTEN connection) by id; but ids are given out when a row is inserted and
    PostgreSQL transactions commit in any order (answer 101 can become visible before answer 100;
    SQLite has one writer at a time, so there ids appear in order). So the source keeps a window of
    the last ``SETTLE_SECONDS`` of ids and remembers which of them it has passed on; an id below
    the window is settled. A window read is an index range on ``check_answer (round_id, id)``.
    """

    def __init__(self, round_id: int) -> None:
        self.round_id = round_id
        self.names = AreaNames()
        self.floor: int | None = None
        self.seen: set[int] = set()
        self.marks: deque[tuple[float, int]] = deque()

    def signature(self, session: Session) -> tuple:
        """Cheap "did anything change?" for polling (SQLite, and PostgreSQL's safety poll)."""
        latest = session.exec(select(func.max(CheckAnswer.id)).where(CheckAnswer.round_id == self.round_id)).one()
        states = sorted(
            read_counters(session=session, round_id=self.round_id, dimension="all").get("all", {}).get("", {}).items()
        )
        round_state = session.exec(select(SafetyRound.state).where(SafetyRound.id == self.round_id)).one_or_none()
        count = session.exec(
            select(func.count())
            .select_from(CheckAnswer)
            .where(CheckAnswer.round_id == self.round_id, CheckAnswer.id > (self.floor or 0))
        ).one()
        return latest, count, tuple(states), round_state, self.reviews(session)

    def reviews(self, session: Session) -> tuple:
        """(checks marked 「返信あり・要確認」, sum of their reply ids): a partial-index read."""
        return tuple(
            session.exec(
                select(func.count(), func.coalesce(func.sum(SafetyCheck.review_reply_id), 0)).where(
                    SafetyCheck.round_id == self.round_id, col(SafetyCheck.review_reply_id).is_not(None)
                )
            ).one()
        )

    def read(self, session: Session, *, advance: bool = True, notified_ids: set[int] | None = None) -> Wake:
        """Counters, names and the answers not passed on yet (``advance=False``: for a new view, which
        starts from the latest answers without moving the watcher's own position). ``notified_ids``:
        the answers PostgreSQL announced at their commit; without them, the window is read."""
        safety_round = session.get(SafetyRound, self.round_id)
        counters = read_counters(session=session, round_id=self.round_id)
        keys = {d: set(counters.get(d, {})) for d in ("region", "municipality", "hub")}
        if self.names.missing(keys["region"], keys["municipality"], keys["hub"]):
            self.names = load_names(session, keys["region"], keys["municipality"], keys["hub"])
        latest = session.exec(select(func.max(CheckAnswer.id)).where(CheckAnswer.round_id == self.round_id)).one() or 0
        new_ids: list[int] = []
        if advance:
            if self.floor is None:
                self.floor = max(0, latest - NEW_ANSWERS_PER_WAKE)
            if notified_ids is not None:
                window = sorted(notified_ids, reverse=True)
            else:
                window = list(
                    session.exec(
                        select(CheckAnswer.id)
                        .where(CheckAnswer.round_id == self.round_id, CheckAnswer.id > self.floor)
                        .order_by(col(CheckAnswer.id).desc())
                        .limit(WINDOW_LIMIT)
                    ).all()
                )
            new_ids = [i for i in window if i not in self.seen][:NEW_ANSWERS_PER_WAKE]
            self.seen.update(window)
            self._settle(max(window, default=self.floor))
        return Wake(
            round_id=self.round_id,
            drill=safety_round.drill if safety_round else False,
            round_state=safety_round.state if safety_round else "closed",
            counters=counters,
            names=self.names,
            last_answer_id=latest,
            new_answer_ids=new_ids,
            reviews=self.reviews(session),
        )

    def start_at(self, latest: int, session: Session) -> None:
        """Begin the window where the first view's feed ends; what that feed showed is passed on already."""
        if self.floor is not None:
            return
        self.floor = max(0, latest - NEW_ANSWERS_PER_WAKE)
        self.seen = set(
            session.exec(
                select(CheckAnswer.id).where(CheckAnswer.round_id == self.round_id, CheckAnswer.id > self.floor)
            ).all()
        )

    def _settle(self, top: int) -> None:
        now = time.monotonic()
        self.marks.append((now, top))
        while self.marks and self.marks[0][0] < now - SETTLE_SECONDS:
            self.floor = max(self.floor or 0, self.marks.popleft()[1])
        if self.floor:
            self.seen = {i for i in self.seen if i > self.floor}


class BoardView:
    """One (round, role, scope, filters) as its viewers see it: rendered sections, feed and chart.

    Sections are re-rendered only when what they show changed; the lists at most every
    ``LIST_SECONDS`` and the area tables and the grid, the costly ones, at most every
    ``HEAVY_SECONDS``. Counts and feed are the fast path (``refresh(slow=False)``); the lists and
    tables come from ``refresh_slow`` on the watcher's other loop whenever ``slow_due()``.
    """

    def __init__(
        self,
        spec: ViewSpec,
        settings: Settings,
        *,
        list_limit: int | None = None,
        list_seconds: float = LIST_SECONDS,
        heavy_seconds: float = HEAVY_SECONDS,
    ) -> None:
        self.spec = spec
        self.list_seconds, self.heavy_seconds = list_seconds, heavy_seconds
        self.list_limit = list_limit or settings.board_list_limit
        self.sections: dict[str, str] = {}
        self.feed: deque[dict] = deque(maxlen=FEED_SIZE)
        self.series: list[list[int]] = []
        self.counts: Counts | None = None
        self.shown_patient_ids: set[int] = set()
        self.last_answer_id = 0
        self.round_state = ""
        self.pending = False
        self._changes = 0  # wake-ups that changed something; the lists have caught up to _caught_up
        self._caught_up = 0
        self._slow_at = 0.0
        self._counters: dict = {}
        self._reviews: tuple = ()
        self._known: deque[int] = deque(maxlen=WINDOW_LIMIT)
        self._inputs: dict[str, object] = {}
        self._heavy_at = 0.0
        self._prefecture_keys: set[str] | None = None
        self._lock = threading.Lock()

    def load(self, session: Session, wake: Wake) -> None:
        if self.spec.role == Role.prefecture:
            self._prefecture_keys = prefecture_municipality_keys(session, self.spec.scope_id)
        self.series = [list(p) for p in lists.answer_rate_series(session, self.spec)]
        if self.spec.sees_identities:
            rows = lists.recent_answers(session, self.spec, wake.names, FEED_SIZE)
            self.feed.extend(self._feed_entry(r) for r in rows)
            self._known.extend(r.answer_id for r in rows)
            self.shown_patient_ids.update(r.patient_id for r in rows)
        self.last_answer_id = wake.last_answer_id
        self.round_state = wake.round_state
        self.sections = self._slow_sections(session, wake, force=True)
        self.sections.update(self._fast_sections(wake))

    def refresh(self, session: Session, wake: Wake, *, slow: bool = True) -> dict | None:
        """The update message for this view's subscribers, or None when nothing they see changed.

        ``slow=False`` (the watcher's fast path): counts from the counters and the feed only; the
        lists and tables, which take a hundred times as long, come from ``refresh_slow`` in their
        own time, so a new answer never waits for them.
        """
        if wake.new_answer_ids or wake.counters != self._counters or wake.reviews != self._reviews:
            self._changes += 1  # the lists may be out of date now (refresh_slow, in another thread, catches up)
        self._counters = wake.counters
        self._reviews = wake.reviews
        known = set(self._known)
        new_ids = [i for i in wake.new_answer_ids if i not in known]
        fresh = lists.answers_by_id(session, self.spec, wake.names, new_ids) if self.spec.sees_identities else []
        self._known.extend(new_ids)
        self.last_answer_id = max(self.last_answer_id, wake.last_answer_id)
        sections = self._slow_sections(session, wake) if slow else {}
        sections.update(self._fast_sections(wake))
        state_changed = wake.round_state != self.round_state
        self.round_state = wake.round_state
        entries = [self._feed_entry(r) for r in fresh]
        with self._lock:
            changed = {k: v for k, v in sections.items() if self.sections.get(k) != v}
            if not changed and not entries and not state_changed:
                return None
            self.sections.update(changed)
            for entry in reversed(entries):
                self.feed.appendleft(entry)
        return self._message("update", changed, entries, point=self._add_point())

    def slow_due(self) -> bool:
        return self.pending or self._changes != self._caught_up

    def refresh_slow(self, session: Session, wake: Wake) -> dict | None:
        """The lists, the area tables and counts that need a scan, when their interval has passed."""
        sections = self._slow_sections(session, wake)
        if self._slow_counts:
            sections.update(self._fast_sections(wake))
        with self._lock:
            changed = {k: v for k, v in sections.items() if self.sections.get(k) != v}
            if not changed:
                return None
            self.sections.update(changed)
        return self._message("update", changed, [])

    def snapshot(self) -> dict:
        with self._lock:
            return self._message(
                "snapshot", dict(self.sections), list(self.feed), series=[list(p) for p in self.series]
            )

    def _message(self, kind: str, sections: dict, feed: list[dict], **extra) -> dict:
        counts = self.counts
        return {
            "type": kind,
            "round_id": self.spec.round_id,
            "answer_id": self.last_answer_id,
            "total": counts.total if counts else 0,
            "answered": counts.answered if counts else 0,
            "round_state": self.round_state,
            "at": int(time.time() * 1000),
            "sections": sections,
            "feed": feed,
            **extra,
        }

    @property
    def _slow_counts(self) -> bool:
        """Counts of this view come from a scan (a scope the counters do not cover), not the counters."""
        return not uses_counters(self.spec, self._counters, self._prefecture_keys)

    def _fast_sections(self, wake: Wake) -> dict[str, str]:
        """Every wake-up: the counts (from the counters; a scanning view keeps its last ones)."""
        if not self._slow_counts:
            self.counts = summarise(wake.counters, wake.names, self.spec.min_cell)
        counts = self.counts
        sections: dict[str, str] = {}
        if counts is None:
            return sections
        self._section(sections, "counts", (counts.by_state, wake.drill), lambda: render.counts_html(counts, wake.drill))
        if self.spec.sees_identities:
            self._section(sections, "priority_total", counts.needing, lambda: render.total_html(counts.needing))
            self._section(sections, "silent_total", counts.silent, lambda: render.total_html(counts.silent))
        return sections

    def _slow_sections(self, session: Session, wake: Wake, *, force: bool = False) -> dict[str, str]:
        """At most every ``LIST_SECONDS``: the lists and the counts that need a scan; every
        ``HEAVY_SECONDS``: the tables. ``pending`` says whether something is held back."""
        spec = self.spec
        now = time.monotonic()
        sections: dict[str, str] = {}
        changes = self._changes
        slow = force or (changes != self._caught_up and now - self._slow_at >= self.list_seconds)
        if not self._slow_counts:
            counts = summarise(wake.counters, wake.names, spec.min_cell)  # the fast path owns self.counts
        elif slow or self.counts is None:
            counts = self.counts = summarise(groups_as_counters(scan_groups(session, spec)), wake.names, spec.min_cell)
        else:
            counts = self.counts
        outages = frozenset(str(i) for i in power_out_municipality_ids(session=session))
        grid_stale = self._inputs.get("areas") != counts or self._inputs.get("grid", (None, None))[1] != outages
        if grid_stale and (force or now - self._heavy_at >= self.heavy_seconds):
            self._heavy_at = now
            self._section(sections, "grid", (counts, outages), lambda: render.grid_html(counts, outages))
            self._section(sections, "areas", counts, lambda: render.areas_html(counts))
        if spec.sees_identities and slow:
            priority = lists.priority_list(session, spec, wake.names, self.list_limit)
            silent = lists.non_responders(session, spec, wake.names, self.list_limit)
            self.shown_patient_ids.update(r.patient_id for r in (*priority, *silent))
            # The tables change less often than their totals: each total is its own small section, after its table.
            limit = self.list_limit
            self._section(sections, "priority", priority, lambda: render.priority_html(priority, counts.needing, limit))
            self._section(sections, "silent", silent, lambda: render.silent_html(silent, counts.silent, limit))
        if slow:
            self._slow_at = now
            self._caught_up = changes
        self.pending = (
            self._changes != self._caught_up
            or self._inputs.get("areas") != counts
            or self._inputs.get("grid", (None, None))[1] != outages
        )
        return sections

    def _section(self, sections: dict[str, str], name: str, inputs: object, make) -> None:
        if name in self.sections and self._inputs.get(name) == inputs:
            return  # drawn already from the same inputs
        sections[name] = str(make())
        self._inputs[name] = inputs

    def _add_point(self) -> list[int]:
        now = int(time.time() * 1000)
        point = [now, self.counts.answered if self.counts else 0]
        with self._lock:
            # One point per 10 s is plenty for a chart of hours; a burst only moves the last one.
            if self.series and now - self.series[-1][0] < 10_000:
                self.series[-1] = point
            else:
                self.series.append(point)
            del self.series[:-MAX_POINTS]
        return point

    @staticmethod
    def _feed_entry(row) -> dict:
        return {"id": row.answer_id, "check": row.check_id, "html": str(render.feed_item_html(row))}
