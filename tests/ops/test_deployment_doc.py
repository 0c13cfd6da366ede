"""docs/deployment.md's round-time table is what the settings give (people × 2 segments ÷ rate)."""

from __future__ import annotations

import re
from pathlib import Path

from bcp_service.config import Settings
from bcp_service.rounds.messages import SEGMENT_BUDGET

DOC = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"


def duration(seconds: float) -> str:
    hours, minutes, rest = int(seconds // 3600), int(seconds % 3600 // 60), int(seconds % 60)
    return f"{hours} h {minutes:02d} min" if hours else (f"{minutes} min {rest:02d} s" if minutes else f"{rest} s")


def test_round_times_follow_the_settings():
    settings = Settings()
    segments = SEGMENT_BUDGET["check_initial"]  # the first text of a round
    assert segments == 2 and settings.send_rate_unit == "segments"
    text = DOC.read_text(encoding="utf-8")
    assert f"{settings.send_validity_seconds:,} s" in text
    for rate in (1, 10, 20, 50, 100, 200):
        cells = []
        for people in (1_000, 10_000, 200_000):
            seconds = people * segments / rate
            cells.append(duration(seconds) + (" ⚠" if seconds > settings.send_validity_seconds else ""))
        row = f"| {rate} | {rate / segments:g} | " + " | ".join(cells) + " |"
        assert row in text, row
    assert re.search(r"\| 1 \(default\) \| 16 min 40 s \|", text)  # 1,000 calls at Twilio's default 1 CPS
