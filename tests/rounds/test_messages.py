from pathlib import Path

import pytest

from bcp_service.rounds import messages
from bcp_service.twilio_sim import count_segments

TEMPLATES = sorted(p.stem for p in (Path(messages.__file__).parents[1] / "templates" / "messages").glob("*.txt"))
# The longest base URL we expect a prefecture to use (a long .lg.jp host name).
LONGEST_BASE_URL = "https://anpi-kakunin.zaitaku-iryo.pref.kagoshima.lg.jp"
CONTEXTS = [
    {"state_label": label, "hours": hours}
    for label in messages.STATE_LABELS.values() for hours in (None, "720", "2.5")
]


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("drill", [False, True])
def test_every_template_fits_two_ucs2_segments_with_the_link(template, drill):
    link = messages.answer_link(LONGEST_BASE_URL, "T" * messages.TOKEN_MAX_CHARS)
    for context in CONTEXTS:
        text = messages.render_text(template, drill=drill, link=link, **context)
        segments, encoding = count_segments(text)
        assert encoding == "UCS-2"
        assert segments <= messages.MAX_SEGMENTS, (template, len(text), text)
        assert text.startswith("【訓練】") == drill
        assert "\n" not in text


def test_the_first_message_carries_the_full_link():
    text = messages.render_message(messages.INITIAL_TEMPLATE, drill=False, public_base_url=LONGEST_BASE_URL + "/", token="T" * 22)
    assert f"{LONGEST_BASE_URL}/a/{'T' * 22}" in text
    assert "1無事" in text


def test_tokens_are_128_bit_and_url_safe():
    tokens = {messages.new_answer_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(len(t) == 22 and t.replace("-", "a").replace("_", "a").isalnum() for t in tokens)
    assert messages.hash_token("abc") != messages.hash_token("abd")


def test_too_long_base_url_is_refused():
    messages.check_budget(LONGEST_BASE_URL)
    with pytest.raises(ValueError, match="too long"):
        messages.check_budget("https://" + "x" * 80 + ".example.jp")
