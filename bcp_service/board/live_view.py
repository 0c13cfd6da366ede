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
from bcp_service.auth.roles import Role
from bcp_service.config import Settings
from bcp_service.models import CheckAnswer, RoundCounter, SafetyRound
from bcp_service.rounds.counters import read_counters

FEED_SIZE = 30
NEW_ANSWERS_PER_WAKE = 200
MAX_POINTS = 2000  # the feed shows the newest; older ones of a huge burst are counted, not listed


@dataclass
class Wake:
    round_id: int
    drill: bool
    round_state: str
    counters: dict
    names: AreaNames
    last_answer_id: int
    new_answer_ids: list[int] = field(default_factory=list)


class RoundSource:
    """The reads one round's watcher shares between all its views."""

    def __init__(self, round_id: int) -> None:
        self.round_id = round_id
        self.last_answer_id: int | None = None
        self.names = AreaNames()

    def signature(self, session: Session) -> tuple:
        """Cheap "did anything change?" for polling (SQLite, and PostgreSQL's safety poll)."""
        latest = session.exec(select(func.max(CheckAnswer.id)).where(CheckAnswer.round_id == self.round_id)).one()
        states = session.exec(
            select(RoundCounter.state, RoundCounter.count)
            .where(RoundCounter.round_id == self.round_id, RoundCounter.dimension == "all")
            .order_by(RoundCounter.state)
        ).all()
        round_state = session.exec(select(SafetyRound.state).where(SafetyRound.id == self.round_id)).one_or_none()
        return latest, tuple(states), round_state

    def read(self, session: Session, *, advance: bool = True) -> Wake:
        """Counters, names and the answers since the last read (``advance=False``: for a new view, which
        starts from the latest answer without moving the watcher's own position)."""
        safety_round = session.get(SafetyRound, self.round_id)
        counters = read_counters(session=session, round_id=self.round_id)
        keys = {d: set(counters.get(d, {})) for d in ("region", "municipality", "hub")}
        if self.names.missing(keys["region"], keys["municipality"], keys["hub"]):
            self.names = load_names(session, keys["region"], keys["municipality"], keys["hub"])
        new_ids: list[int] = []
        if advance and self.last_answer_id is not None:
            new_ids = list(session.exec(
                select(CheckAnswer.id)
                .where(CheckAnswer.round_id == self.round_id, CheckAnswer.id > self.last_answer_id)
                .order_by(col(CheckAnswer.id).desc()).limit(NEW_ANSWERS_PER_WAKE)
            ).all())
            latest = max(new_ids, default=self.last_answer_id)
        else:
            latest = session.exec(select(func.max(CheckAnswer.id)).where(CheckAnswer.round_id == self.round_id)).one() or 0
        if advance:
            self.last_answer_id = latest
        return Wake(round_id=self.round_id, drill=safety_round.drill if safety_round else False,
                    round_state=safety_round.state if safety_round else "closed", counters=counters,
                    names=self.names, last_answer_id=latest, new_answer_ids=new_ids)


class BoardView:
    """One (round, role, scope, filters) as its viewers see it: rendered sections, feed and chart."""

    def __init__(self, spec: ViewSpec, settings: Settings, *, list_limit: int | None = None) -> None:
        self.spec = spec
        self.list_limit = list_limit or settings.board_list_limit
        self.sections: dict[str, str] = {}
        self.feed: deque[dict] = deque(maxlen=FEED_SIZE)
        self.series: list[list[int]] = []
        self.counts: Counts | None = None
        self.shown_patient_ids: set[int] = set()
        self.last_answer_id = 0
        self.round_state = ""
        self._prefecture_keys: set[str] | None = None
        self._lock = threading.Lock()

    def load(self, session: Session, wake: Wake) -> None:
        if self.spec.role == Role.prefecture:
            self._prefecture_keys = prefecture_municipality_keys(session, self.spec.scope_id)
        self.series = [list(p) for p in lists.answer_rate_series(session, self.spec)]
        if self.spec.sees_identities:
            rows = lists.recent_answers(session, self.spec, wake.names, FEED_SIZE)
            self.feed.extend(self._feed_entry(r) for r in rows)
            self.shown_patient_ids.update(r.patient_id for r in rows)
        self.last_answer_id = wake.last_answer_id
        self.round_state = wake.round_state
        self.sections = self._render(session, wake)

    def refresh(self, session: Session, wake: Wake) -> dict | None:
        """The update message for this view's subscribers, or None when nothing they see changed."""
        sections = self._render(session, wake)
        new_ids = [i for i in wake.new_answer_ids if i > self.last_answer_id]
        fresh = lists.answers_by_id(session, self.spec, wake.names, new_ids) if self.spec.sees_identities else []
        self.last_answer_id = max(self.last_answer_id, wake.last_answer_id)
        changed = {k: v for k, v in sections.items() if self.sections.get(k) != v}
        state_changed = wake.round_state != self.round_state
        self.round_state = wake.round_state
        if not changed and not fresh and not state_changed:
            return None
        point = self._add_point()
        entries = [self._feed_entry(r) for r in fresh]
        with self._lock:
            self.sections = sections
            for entry in reversed(entries):
                self.feed.appendleft(entry)
        return self._message("update", changed, entries, point=point)

    def snapshot(self) -> dict:
        with self._lock:
            return self._message("snapshot", dict(self.sections), list(self.feed), series=[list(p) for p in self.series])

    def _message(self, kind: str, sections: dict, feed: list[dict], **extra) -> dict:
        counts = self.counts
        return {
            "type": kind, "round_id": self.spec.round_id, "answer_id": self.last_answer_id,
            "total": counts.total if counts else 0, "answered": counts.answered if counts else 0,
            "round_state": self.round_state, "at": int(time.time() * 1000), "sections": sections, "feed": feed,
            **extra,
        }

    def _render(self, session: Session, wake: Wake) -> dict[str, str]:
        spec = self.spec
        if uses_counters(spec, wake.counters, self._prefecture_keys):
            counters = wake.counters
        else:
            counters = groups_as_counters(scan_groups(session, spec))
        counts = summarise(counters, wake.names, spec.min_cell)
        self.counts = counts
        sections = {
            "counts": str(render.counts_html(counts, wake.drill)),
            "grid": str(render.grid_html(counts)),
            "areas": str(render.areas_html(counts)),
        }
        if spec.sees_identities:
            priority = lists.priority_list(session, spec, wake.names, self.list_limit)
            silent = lists.non_responders(session, spec, wake.names, self.list_limit)
            self.shown_patient_ids.update(r.patient_id for r in (*priority, *silent))
            sections["priority"] = str(render.priority_html(priority, counts.needing))
            sections["silent"] = str(render.silent_html(silent, counts.silent))
        return sections

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
