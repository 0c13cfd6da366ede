"""Escalation texts fit the SMS budget (two UCS-2 segments) with the drill label and a long host."""

import pytest

from bcp_service.answer_tokens import TOKEN_MAX_CHARS
from bcp_service.escalation.jobs import FAMILY_TEMPLATE, RESEND_TEMPLATE
from bcp_service.rounds.messages import MAX_SEGMENTS, render_message, segments

LONG_BASE_URL = "https://anpi-kakunin.zaitaku-iryo.pref.kagoshima.lg.jp"  # the rounds tests' longest


@pytest.mark.parametrize("template", [RESEND_TEMPLATE, FAMILY_TEMPLATE])
@pytest.mark.parametrize("drill", [True, False])
def test_escalation_messages_fit_two_segments(template, drill):
    token = "x" * TOKEN_MAX_CHARS
    text = render_message(
        template, drill=drill, public_base_url=LONG_BASE_URL, token=token, sender="鹿児島県在宅医療連携", replies=False
    )
    assert segments(text) <= MAX_SEGMENTS
    assert text.startswith("【鹿児島県在宅医療連携】【訓練】") is drill
    assert f"{LONG_BASE_URL}/a/{token}" in text
