"""The reply parser against a corpus of real-style replies (replies_corpus.tsv), each with its reading."""

import pytest

from bcp_service.rounds.replies import ParsedReply, normalise, parse_reply
from tests.rounds.reply_labels import CORPORA, exact, load

CASES = load(CORPORA[0])


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 200
    assert len({text for text, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("text", "expected", "extra"), CASES, ids=[f"{i:03d}" for i in range(len(CASES))])
def test_corpus_reads_as_expected(text, expected, extra):
    got = parse_reply(text)
    assert exact(got, expected, extra), got


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
