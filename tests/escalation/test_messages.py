"""Escalation texts fit the SMS budget (two UCS-2 segments) with the drill label and a long host."""

import pytest

from bcp_service.escalation.jobs import FAMILY_TEMPLATE, RESEND_TEMPLATE
from bcp_service.rounds.messages import MAX_SEGMENTS, render_message, segments


@pytest.mark.parametrize("template", [RESEND_TEMPLATE, FAMILY_TEMPLATE])
@pytest.mark.parametrize("drill", [True, False])
def test_escalation_messages_fit_two_segments(template, drill):
    text = render_message(template, drill=drill, public_base_url="https://bcp-anpi.pref.chiba.lg.jp",
                          token="x" * 22)
    assert segments(text) <= MAX_SEGMENTS
    assert ("【訓練】" in text) is drill
    assert "https://bcp-anpi.pref.chiba.lg.jp/a/" + "x" * 22 in text
