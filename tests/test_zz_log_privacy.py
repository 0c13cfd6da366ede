"""No personal data in application logs: scan everything the whole test run logged.

The suite runs the demo data generator, the API, logins, imports and rounds; this test runs last
(see conftest) and searches the run's log for patient names and phone numbers.
"""

import re

from bcp_service.demo.synthetic import FAMILY, GIVEN_F, GIVEN_M

PHONE_PATTERNS = [
    re.compile(r"\+81\d{9,10}"),  # E.164 Japanese numbers as stored
    re.compile(r"(?<!\d)0[789]0-?\d{4}-?\d{4}(?!\d)"),  # national mobile format
]
TEST_NAMES = ["架空 太郎", "架空 花子", "試験 患者", "呼吸 一郎", "範囲外 太郎"]


def demo_names() -> list[str]:
    names = []
    for family, family_kana in FAMILY:
        for given, given_kana in GIVEN_F + GIVEN_M:
            names += [f"{family} {given}", f"{family}{given}", f"{family_kana} {given_kana}"]
    return names


def test_no_personal_data_in_logs(run_log):
    text = run_log.read_text(encoding="utf-8")
    assert text.strip(), "nothing was logged: the capture is not working"
    assert "auth.login" in text, "expected the suite's logins to be logged"
    leaked_names = [name for name in demo_names() + TEST_NAMES if name in text]
    leaked_phones = [m.group(0) for p in PHONE_PATTERNS for m in p.finditer(text)]
    assert leaked_names == [], f"patient names in logs: {leaked_names[:5]}"
    assert leaked_phones == [], f"phone numbers in logs: {leaked_phones[:5]}"
