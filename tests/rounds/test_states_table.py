"""Everything that names a check state agrees with the one table (bcp_service.check_states).

If this fails, a label, a digit, a group or an index condition was written somewhere by hand:
read it from the table instead.
"""

import re
from pathlib import Path

from sqlalchemy import text

import bcp_service
from bcp_service import check_states as states
from bcp_service.answers import routes as answer_page
from bcp_service.bcp import drill as bcp_drill
from bcp_service.board import schemas as board
from bcp_service.escalation import jobs as escalation_jobs
from bcp_service.escalation import report as escalation_report
from bcp_service.escalation import voice
from bcp_service.models import board as board_indexes
from bcp_service.models.rounds import ANSWER_STATES, CheckState
from bcp_service.nurse import schemas as nurse
from bcp_service.rounds import messages, replies
from bcp_service.rounds.triage import GROUP_RANK

ROOT = Path(bcp_service.__file__).parent


def test_the_table_itself_is_consistent():
    assert {s.value for s in CheckState} == set(states.CODES)
    assert [s.value for s in ANSWER_STATES] == list(states.ANSWER_CODES)
    assert {"admitted", "evacuated"} <= set(states.ANSWER_CODES)
    assert set(states.SAFE) | set(states.NEEDING) | set(states.SILENT) == set(states.CODES)
    digits = [s.digit for s in states.STATES if s.digit]
    assert len(digits) == len(set(digits)) and all(s.digit for s in states.STATES if s.answer)
    assert len(set(states.LABELS.values())) == len(states.LABELS)
    assert set(GROUP_RANK) == {s.group for s in states.STATES}


def test_labels_are_the_tables_everywhere():
    assert board.STATE_LABELS == states.LABELS
    assert messages.STATE_LABELS == states.LABELS
    assert escalation_report.STATE_LABELS == states.LABELS
    assert {c: states.LABELS[c] for c in states.NURSE_CODES} == nurse.NURSE_STATE_LABELS
    assert [s.value for s in board.STATE_ORDER] == list(states.CODES)


def test_groups_are_the_tables_everywhere():
    assert tuple(board.NEEDING) == states.NEEDING and tuple(board.SILENT) == states.SILENT
    assert frozenset(states.ANSWER_CODES) == board.ANSWERED
    assert set(escalation_jobs.ESCALATING_STATES) <= set(states.SILENT)
    assert set(bcp_drill._ANSWERED) == set(states.ANSWER_CODES)
    assert set(states.ANSWER_CODES) == answer_page.VALID_STATES
    assert [b.code for b in answer_page.BUTTONS] == list(states.ANSWER_CODES) and all(
        b.button for b in answer_page.BUTTONS
    )


def test_reply_digits_and_words_are_the_tables():
    assert {str(d): c for d, c in replies.DIGIT_STATES.items()} == states.DIGITS
    assert voice.DIGITS == states.DIGITS
    for digit, code in states.DIGITS.items():
        assert replies.parse_reply(digit).state == code
        assert f"{states.BY_CODE[code].voice}{digit}を" in voice.MENU
    for code, words in states.WORDS.items():
        for word in words:
            assert replies.parse_reply(word).state == code, (code, word)


def test_sms_templates_offer_the_tables_menu():
    menu = states.reply_menu()
    for s in states.STATES:
        if s.digit:
            assert f"{s.digit}{s.short}" in menu
    for template in ("check_initial", "check_reminder", "reply_unreadable"):
        # The menu is offered where replies can arrive (BCP_SMS_REPLIES on; docs/deployment-twilio-japan.md).
        assert menu in messages.render_text(
            template, drill=False, link="https://x.jp/a/t", sender="千葉県", replies=True
        )


def test_index_conditions_are_the_tables(engine):
    assert str(board_indexes.NEEDING) == states.sql_in(states.NEEDING)
    assert str(board_indexes.SILENT) == states.sql_in(states.SILENT)
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            sql = dict(
                connection.execute(
                    text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'safety_check'")
                ).all()
            )
        else:
            sql = dict(
                connection.execute(
                    text("SELECT name, sql FROM sqlite_master WHERE tbl_name = 'safety_check' AND sql IS NOT NULL")
                ).all()
            )
    for index, codes in (
        ("ix_safety_check_board_needing", states.NEEDING),
        ("ix_safety_check_board_silent", states.SILENT),
    ):
        in_index = set(re.findall(r"'(\w+)'", sql[index].split("WHERE", 1)[1]))
        assert in_index == set(codes), (index, in_index)


def test_no_state_labels_written_by_hand_elsewhere():
    # A mapping from a state code to Japanese text outside the table is a second source of truth.
    pattern = re.compile(
        r"""["'](?:{})["']\s*:\s*["'][^"']*[\u3040-\u30ff\u4e00-\u9fff]""".format("|".join(states.CODES))
    )
    offenders = [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*")
        if path.suffix in (".py", ".html", ".txt", ".js")
        and path.name != "check_states.py"
        and pattern.search(path.read_text(encoding="utf-8"))
    ]
    # The registry's code labels map the *patient* status (moved / admitted / deceased), not a check state.
    assert offenders == ["registry/code_labels.py"]
