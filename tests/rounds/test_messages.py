from pathlib import Path

import pytest

from bcp_service.rounds import messages
from bcp_service.twilio_sim import count_segments

TEMPLATES = sorted(p.stem for p in (Path(messages.__file__).parents[1] / "templates" / "messages").glob("*.txt"))
# The longest base URL we expect a prefecture to use (a long .lg.jp host name).
LONGEST_BASE_URL = "https://anpi-kakunin.zaitaku-iryo.pref.kagoshima.lg.jp"
# The longest sender name the settings allow (BCP_SENDER_NAME, 10 characters).
LONGEST_SENDER = "鹿児島県在宅医療連携"


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("replies", [False, True])
def test_every_template_fits_its_segment_budget_with_the_longest_link_and_sender(template, replies):
    assert template in messages.SEGMENT_BUDGET  # a new template needs a budget
    samples = list(
        messages.budget_samples(template, public_base_url=LONGEST_BASE_URL, sender=LONGEST_SENDER, replies=replies)
    )
    assert samples
    for text in samples:
        segments, encoding = count_segments(text)
        assert encoding == "UCS-2"
        assert segments <= messages.SEGMENT_BUDGET[template], (template, len(text), text)
        assert text.startswith(f"【{LONGEST_SENDER}】")  # who sends it, first
        # The first message's link on a line of its own (issue 26.5); no other line breaks.
        if template in ("check_initial", "notice_initial"):
            assert any(line.startswith(LONGEST_BASE_URL + "/a/") and " " not in line for line in text.split("\n"))
        else:
            assert "\n" not in text
    assert any("【訓練】" in text for text in samples) and not all("【訓練】" in text for text in samples)


def test_segment_budgets_count_ucs2_as_twilio_does():
    assert count_segments("あ" * 70) == (1, "UCS-2") and count_segments("あ" * 71) == (2, "UCS-2")
    assert count_segments("あ" * 134) == (2, "UCS-2") and count_segments("あ" * 135) == (3, "UCS-2")


def test_the_first_message_carries_the_full_link():
    text = messages.render_message(
        messages.INITIAL_TEMPLATE,
        drill=False,
        public_base_url=LONGEST_BASE_URL + "/",
        token="T" * 22,
        sender="神奈川県",
        replies=True,
    )
    assert f"\n{LONGEST_BASE_URL}/a/{'T' * 22}\n" in text  # on a line of its own
    assert text.startswith("【神奈川県】安否確認の回答は\n") and "1無事" in text


@pytest.mark.parametrize("template", ["check_initial", "check_reminder"])
def test_texts_invite_replies_only_when_replies_can_arrive(template):
    common = {"drill": False, "public_base_url": LONGEST_BASE_URL, "token": "T" * 22, "sender": "神奈川県"}
    on = messages.render_message(template, replies=True, **common)
    off = messages.render_message(template, replies=False, **common)
    assert "返信" in on
    assert "返信" not in off and "電話します" in off and f"{LONGEST_BASE_URL}/a/" in off


def test_too_long_base_url_or_sender_is_refused():
    messages.check_budget(public_base_url=LONGEST_BASE_URL, sender=LONGEST_SENDER, replies=True)
    with pytest.raises(ValueError, match="too long"):
        messages.check_budget(public_base_url="https://" + "x" * 80 + ".example.jp", sender="県", replies=False)
    with pytest.raises(ValueError, match=r"segments .at most 2. with .*BCP_SENDER_NAME"):
        messages.check_budget(public_base_url=LONGEST_BASE_URL, sender="鹿" * 30, replies=False)
