"""Small-cell suppression for the aggregate role: one rule, applied wherever it reads counts.

Counts come as ``{dimension: {key: {state: n}}}`` (``rounds.counters.read_counters``'s shape), where
dimension ``"all"`` (key ``""``) holds the counts by state and every other dimension (region,
municipality, hub, risk tier) splits the same checks by area. The rule:

1. **Primary**: a count from 1 to ``min_cell - 1`` is hidden (0 is shown: an empty cell names nobody).
2. **Complementary**: the counts are tied by sums — an area's states add up to its total, a state's
   areas add up to the state's total, the states add up to the grand total, the areas too. In every
   such sum, either nothing is hidden or at least two of its members are, so no hidden count is a
   total minus the rest. Where only one is hidden, the smallest other positive count of the sum is
   hidden too (a total when nothing else is left), repeated until no sum has exactly one.
3. A sum of some states (answered, needing help) is shown only when none of its parts is hidden.

Ids are never part of the output: keys are area ids already public in the registry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

Cell = tuple  # ("c", dimension, key, state) | ("r", dimension, key) | ("s", state) | ("g",)


@dataclass
class Suppressed:
    """The counts with hidden ones as None. ``min_cell == 0``: nothing hidden."""

    counters: dict[str, dict[str, dict[str, int]]]
    hidden: set = field(default_factory=set)

    def cell(self, dimension: str, key: str, state: str) -> int | None:
        if ("c", dimension, key, state) in self.hidden:
            return None
        return self.counters.get(dimension, {}).get(key, {}).get(state, 0)

    def row_total(self, dimension: str, key: str) -> int | None:
        if ("r", dimension, key) in self.hidden:
            return None
        return sum(self.counters.get(dimension, {}).get(key, {}).values())

    def state_total(self, state: str) -> int | None:
        if ("s", state) in self.hidden:
            return None
        return self.counters.get("all", {}).get("", {}).get(state, 0)

    @property
    def total(self) -> int | None:
        if ("g",) in self.hidden:
            return None
        return sum(self.counters.get("all", {}).get("", {}).values())

    def row_hidden(self, dimension: str, key: str) -> bool:
        return ("r", dimension, key) in self.hidden

    def part_sum(self, states: Iterable[str], dimension: str | None = None, key: str = "") -> int | None:
        """A sum of some states (answered, needing): None when any of its parts is hidden."""
        values = [self.state_total(s) if dimension is None else self.cell(dimension, key, s) for s in states]
        return None if any(v is None for v in values) else sum(values)

    def by_state(self, dimension: str | None = None, key: str = "") -> dict[str, int | None]:
        states = self.counters.get("all" if dimension is None else dimension, {}).get(key, {})
        return {s: (self.state_total(s) if dimension is None else self.cell(dimension, key, s)) for s in states}


def suppress(counters: dict[str, dict[str, dict[str, int]]], min_cell: int) -> Suppressed:
    if min_cell <= 0:
        return Suppressed(counters)
    values: dict[Cell, int] = {}
    sums: list[tuple[Cell, list[Cell]]] = []
    by_state = counters.get("all", {}).get("", {})
    states = set(by_state)
    for dimension, keys in counters.items():
        if dimension != "all":
            for counts in keys.values():
                states |= set(counts)
    for state in states:
        values[("s", state)] = by_state.get(state, 0)
    values[("g",)] = sum(by_state.values())
    sums.append((("g",), [("s", s) for s in states]))
    for dimension, keys in counters.items():
        if dimension == "all":
            continue
        for key, counts in keys.items():
            row = ("r", dimension, key)
            values[row] = sum(counts.values())
            for state in states:
                values[("c", dimension, key, state)] = counts.get(state, 0)
            sums.append((row, [("c", dimension, key, s) for s in states]))
        sums.append((("g",), [("r", dimension, k) for k in keys]))
        for state in states:
            sums.append((("s", state), [("c", dimension, k, state) for k in keys]))
    hidden = {cell for cell, n in values.items() if 0 < n < min_cell}
    changed = True
    while changed:
        changed = False
        for total, parts in sums:
            members = [total, *parts]
            if sum(1 for m in members if m in hidden) != 1:
                continue
            open_parts = [p for p in parts if p not in hidden]
            positive = sorted((p for p in open_parts if values[p] > 0), key=lambda p: values[p])
            if positive:
                choice = positive[0]
            elif total not in hidden:
                choice = total
            else:
                choice = open_parts[0] if open_parts else None
            if choice is not None:
                hidden.add(choice)
                changed = True
    return Suppressed(counters, hidden)
