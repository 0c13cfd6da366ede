"""Labelled replies (the corpora beside this file) and what "read right" and "downgraded" mean.

A reading is exact when state (or "a person reads it") and every field match the label. It is a
**downgrade** when it makes the person look less urgent than the label says:

- the label needs someone (needs help, power out, transport, or a person must read it: review,
  unreadable, empty) and the reply is read as settled (safe, admitted, evacuated);
- read as a state, it keeps fewer facts than the label: more hours left than said (or hours where
  the label says "don't know"), power not out where the label says out, no transport or admission
  where the label asks for it.

A reply a person must read (review, unreadable, empty) is never a downgrade: it goes to the review
queue and is ranked as needing help until someone reads it (rounds.triage).
"""

from __future__ import annotations

from pathlib import Path

from bcp_service import check_states as states
from bcp_service.rounds.replies import ParsedReply, parse_reply

HERE = Path(__file__).parent
CORPORA = (HERE / "replies_corpus.tsv", HERE / "replies_corpus_wild.tsv")
PERSON = ("review", "unreadable", "empty")


def load(path: Path | str) -> list[tuple[str, str, dict]]:
    cases = []
    for line in Path(path).read_text(encoding="utf-8").split("\n"):
        if not line or line.startswith("#"):
            continue
        text, expected, *fields = line.split("\t")
        extra = dict(f.split("=", 1) if "=" in f else (f, True) for f in fields)
        cases.append((text, expected, extra))
    return cases


def exact(got: ParsedReply, expected: str, extra: dict) -> bool:
    if expected == "review":
        state_ok = got.state is None and got.ambiguous
    elif expected in ("unreadable", "empty"):
        state_ok = got.state is None and not got.ambiguous and got.reason == expected
    else:
        state_ok = (got.state, got.ambiguous) == (expected, False)
    hours = extra.get("hours")
    return (
        state_ok
        and got.hours == (None if hours in (None, "unknown") else float(hours))
        and got.hours_unknown == (hours == "unknown")
        and got.power == extra.get("power")
        and got.needs_transport == bool(extra.get("transport"))
        and got.needs_admission == bool(extra.get("admission"))
        and got.evacuated_to == extra.get("to")
    )


def downgrade(got: ParsedReply, expected: str, extra: dict) -> str | None:
    """Why the reading is less urgent than the label, or None."""
    if got.state is None:
        return None  # a person reads it
    urgent = expected in PERSON or expected in states.NEEDING
    if urgent and got.state in states.SAFE:
        return f"read as {got.state}"
    hours = extra.get("hours")
    if hours == "unknown" and got.hours is not None:
        return "hours where the label says unknown"
    if hours not in (None, "unknown") and got.hours is not None and got.hours > float(hours):
        return f"{got.hours} hours for {hours}"
    if extra.get("power") == "out" and got.power != "out":
        return "power out lost"
    if extra.get("transport") and not got.needs_transport:
        return "transport lost"
    if extra.get("admission") and not got.needs_admission:
        return "admission lost"
    return None


def compare(text: str, expected: str, extra: dict) -> tuple[ParsedReply, bool, str | None]:
    got = parse_reply(text)
    return got, exact(got, expected, extra), downgrade(got, expected, extra)


def summary() -> list[str]:
    """Per corpus: replies, read exactly, downgrades; then every miss (for RESULTS.md)."""
    lines, misses = [], []
    for path in CORPORA:
        cases = load(path)
        results = [(case, *compare(*case)) for case in cases]
        exact_n = sum(ok for _, _, ok, _ in results)
        down_n = sum(bool(d) for *_, d in results)
        lines.append(
            f"{path.name}: {len(cases)} replies, {exact_n} exact ({100 * exact_n / len(cases):.1f} %), "
            f"{down_n} downgrades"
        )
        misses += [
            f"  {text!r} labelled {expected} {extra or ''}: read {got.state or got.reason}"
            for (text, expected, extra), got, ok, _ in results
            if not ok
        ]
    return lines + misses


if __name__ == "__main__":
    print("\n".join(summary()))
