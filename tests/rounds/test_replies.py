"""The reply parser against a corpus of real-style replies (replies_corpus.tsv), each with its reading."""

from pathlib import Path

import pytest

from bcp_service.rounds.replies import ParsedReply, normalise, parse_reply

CORPUS = Path(__file__).with_name("replies_corpus.tsv")


def load_corpus() -> list[tuple[str, str, dict]]:
    cases = []
    for line in CORPUS.read_text(encoding="utf-8").split("\n"):
        if not line or line.startswith("#"):
            continue
        text, expected, *fields = line.split("\t")
        extra = dict(f.split("=", 1) if "=" in f else (f, True) for f in fields)
        cases.append((text, expected, extra))
    return cases


CASES = load_corpus()


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 200
    assert len({text for text, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("text", "expected", "extra"), CASES, ids=[f"{i:03d}" for i in range(len(CASES))])
def test_corpus_reads_as_expected(text, expected, extra):
    got = parse_reply(text)
    if expected == "review":
        assert got.state is None and got.ambiguous, got
    elif expected in ("unreadable", "empty"):
        assert got.state is None and not got.ambiguous and got.reason == expected, got
    else:
        assert (got.state, got.ambiguous) == (expected, False), got
    hours = extra.get("hours")
    assert got.hours == (None if hours in (None, "unknown") else float(hours)), got
    assert got.hours_unknown == (hours == "unknown"), got
    assert got.power == extra.get("power"), got
    assert got.needs_transport == bool(extra.get("transport")), got
    assert got.needs_admission == bool(extra.get("admission")), got
    assert got.evacuated_to == extra.get("to"), got


def test_none_is_empty():
    assert parse_reply(None) == ParsedReply(None, None, False, "empty")


def test_normalise_folds_width_and_case():
    assert normalise("  ＯＫ　１ ") == "ok 1"


def test_reply_is_frozen():
    reply = parse_reply("1")
    with pytest.raises(AttributeError):
        reply.state = "needs_help"  # type: ignore[misc]


def test_very_long_reply_is_bounded():
    assert parse_reply("無事" + "あ" * 100_000).state == "safe"
