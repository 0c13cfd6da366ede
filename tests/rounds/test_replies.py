import pytest

from bcp_service.rounds.replies import ParsedReply, normalise, parse_reply

CASES = [
    # Digits, half- and full-width, and circled.
    ("1", "safe", None, False, "matched_digit"),
    ("2", "needs_help", None, False, "matched_digit"),
    ("3", "power_out", None, False, "matched_digit"),
    ("4", "needs_transport", None, False, "matched_digit"),
    ("１", "safe", None, False, "matched_digit"),
    ("　４　", "needs_transport", None, False, "matched_digit"),
    ("①", "safe", None, False, "matched_digit"),
    ("1です", "safe", None, False, "matched_digit"),
    ("1.", "safe", None, False, "matched_digit"),
    ("1 無事", "safe", None, False, "matched_digit"),
    ("1 1", "safe", None, False, "matched_digit"),
    # Japanese keywords.
    ("無事です", "safe", None, False, "matched_keyword"),
    ("大丈夫", "safe", None, False, "matched_keyword"),
    ("だいじょうぶです", "safe", None, False, "matched_keyword"),
    ("問題ない", "safe", None, False, "matched_keyword"),
    ("問題なし", "safe", None, False, "matched_keyword"),
    ("問題ありません", "safe", None, False, "matched_keyword"),
    ("元気です", "safe", None, False, "matched_keyword"),
    ("助けて", "needs_help", None, False, "matched_keyword"),
    ("救助をお願いします", "needs_help", None, False, "matched_keyword"),
    ("息が苦しい", "needs_help", None, False, "matched_keyword"),
    ("停電しています", "power_out", None, False, "matched_keyword"),
    ("電気が来ない", "power_out", None, False, "matched_keyword"),
    ("ﾊﾞｯﾃﾘｰ", "power_out", None, False, "matched_keyword"),
    ("搬送してほしい", "needs_transport", None, False, "matched_keyword"),
    ("避難したい", "needs_transport", None, False, "matched_keyword"),
    ("迎えに来てください", "needs_transport", None, False, "matched_keyword"),
    ("入院させてください", "needs_transport", None, False, "matched_keyword"),
    # English, any case and width.
    ("OK", "safe", None, False, "matched_keyword"),
    ("ＯＫ", "safe", None, False, "matched_keyword"),
    ("okです", "safe", None, False, "matched_keyword"),
    ("We are safe", "safe", None, False, "matched_keyword"),
    ("fine thanks", "safe", None, False, "matched_keyword"),
    ("HELP", "needs_help", None, False, "matched_keyword"),
    ("sos", "needs_help", None, False, "matched_keyword"),
    ("power outage", "power_out", None, False, "matched_keyword"),
    ("Blackout here", "power_out", None, False, "matched_keyword"),
    ("need transport", "needs_transport", None, False, "matched_keyword"),
    ("please evacuate us", "needs_transport", None, False, "matched_keyword"),
    # Hours left.
    ("停電 あと3時間", "power_out", 3.0, False, "matched_keyword"),
    ("停電、バッテリー残り２．５時間", "power_out", 2.5, False, "matched_keyword"),
    ("3 バッテリー３時間半", "power_out", 3.5, False, "matched_digit"),
    ("3 3h", "power_out", 3.0, False, "matched_digit"),
    ("power out, 2 hours left", "power_out", 2.0, False, "matched_keyword"),
    ("停電 あと三時間", "power_out", 3.0, False, "matched_keyword"),
    ("停電 あと1時間30分", "power_out", 1.5, False, "matched_keyword"),
    ("停電 あと30分", "power_out", 0.5, False, "matched_keyword"),
    ("停電 バッテリー3時間 ボンベ2時間", "power_out", 2.0, False, "matched_keyword"),
    ("help 3h left", "needs_help", 3.0, False, "matched_keyword"),
    # A duration in the past or future is not what is left.
    ("3時間前から停電", "power_out", None, False, "matched_keyword"),
    ("3時間半前から停電", "power_out", None, False, "matched_keyword"),
    ("power out since 2 hours ago", "power_out", None, False, "matched_keyword"),
    # Numbers that are not answers do not conflict with the keyword.
    ("無事 3時に連絡します", "safe", None, False, "matched_keyword"),
    ("停電 バッテリー50%", "power_out", None, False, "matched_keyword"),
    ("無事 12:30", "safe", None, False, "matched_keyword"),
    # Hours alone leave the state for a person to decide.
    ("あと3時間", None, 3.0, True, "hours_only"),
    ("３時間", None, 3.0, True, "hours_only"),
    # Negated safety is never read as safe.
    ("大丈夫じゃない", None, None, True, "negated_safe"),
    ("大丈夫ではない", None, None, True, "negated_safe"),
    ("大丈夫ではありません", None, None, True, "negated_safe"),
    ("無事ではない", None, None, True, "negated_safe"),
    ("元気がない", None, None, True, "negated_safe"),
    ("問題あり", None, None, True, "negated_safe"),
    ("not ok", None, None, True, "negated_safe"),
    ("I'm NOT SAFE", None, None, True, "negated_safe"),
    ("unsafe", None, None, True, "negated_safe"),
    ("1 大丈夫じゃない", None, None, True, "conflicting_answers"),
    # ...but a negated "safe" next to one clear state is that state.
    ("大丈夫じゃない 停電", "power_out", None, False, "matched_keyword"),
    ("not ok, 2", "needs_help", None, False, "matched_digit"),
    # Denials of other states do not count as those states.
    ("停電なし 無事", "safe", None, False, "matched_keyword"),
    ("停電していません。大丈夫です", "safe", None, False, "matched_keyword"),
    ("助けは不要です 元気", "safe", None, False, "matched_keyword"),
    ("no help needed, fine", "safe", None, False, "matched_keyword"),
    ("停電なし", None, None, True, "negation_only"),
    # Two different states: a person reads it.
    ("1 2", None, None, True, "conflicting_answers"),
    ("１２", None, None, False, "unreadable"),
    ("1、3", None, None, True, "conflicting_answers"),
    ("無事 助けて", None, None, True, "conflicting_answers"),
    ("停電 助けて", None, None, True, "conflicting_answers"),
    ("ok but power outage", None, None, True, "conflicting_answers"),
    ("2 停電 あと1時間", None, 1.0, True, "conflicting_answers"),
    # Unreadable and empty.
    ("5", None, None, False, "unreadable"),
    ("0", None, None, False, "unreadable"),
    ("12", None, None, False, "unreadable"),
    ("090-1234-5678", None, None, False, "unreadable"),
    ("こんにちは", None, None, False, "unreadable"),
    ("okay-ish? define", "safe", None, False, "matched_keyword"),
    ("helpful", None, None, False, "unreadable"),
    ("", None, None, False, "empty"),
    ("   　 ", None, None, False, "empty"),
]


@pytest.mark.parametrize(("text", "state", "hours", "ambiguous", "reason"), CASES)
def test_parse_reply(text, state, hours, ambiguous, reason):
    assert parse_reply(text) == ParsedReply(state, hours, ambiguous, reason)


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
