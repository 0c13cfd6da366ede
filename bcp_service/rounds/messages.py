"""Message text and answer links.

A link carries a random token of at least 128 bits (``answer_tokens``: 22 or 23 URL-safe characters);
the database keeps its SHA-256 for lookup. The plain token sits in the outbox row only until the message has left, because the
text is rendered at send time (see docs/rounds.md, "Answer links").
"""

from __future__ import annotations

import re

from bcp_service import check_states as states
from bcp_service.answer_tokens import TOKEN_MAX_CHARS
from bcp_service.sms import count_segments
from bcp_service.templating import render

ANSWER_PATH = "/a/"
ROUND_PATH = "/board/rounds/"  # the round's board: who is unreachable, for staff who log in
# Texts to staff, not to the patient: their link is the round's page, never an answer link (escalation/oncall.py).
STAFF_TEMPLATES = frozenset({"oncall_page"})
# Two UCS-2 segments: 2 x 67 characters once the text is split (70 only for a single segment).
MAX_SEGMENTS = 2
# Every message template and the segments it may take (the replies to an SMS answer: one).
SEGMENT_BUDGET = {
    "check_initial": 2,
    "check_reminder": 2,
    "check_family": 2,
    "reply_ack": 1,
    "reply_unreadable": 1,
    "notice_initial": 2,
    "notice_reminder": 2,
    "notice_family": 2,
    # The question a later hazard of an incident adds (rounds.incidents): a tsunami's evacuation.
    "incident_evacuation": 2,
    # oncall (issue 25.4): the page to a station's or hub's on-call phone (escalation/oncall.py).
    "oncall_page": 2,
}
INITIAL_TEMPLATE = "check_initial"
STATE_LABELS = states.LABELS  # the one table of states (check_states)
DRILL_LABEL = "【訓練】"
# An advance-notice round (事前連絡, before a forecast hazard) has texts of its own: check_* → notice_*.
NOTICE_TEMPLATES = {
    "check_initial": "notice_initial",
    "check_reminder": "notice_reminder",
    "check_family": "notice_family",
}


def first_template(kind: str) -> str:
    return NOTICE_TEMPLATES[INITIAL_TEMPLATE] if kind == "advance_notice" else INITIAL_TEMPLATE


def template_for(kind: str, template: str | None) -> str | None:
    """The template of a follow-up message in a round of this kind."""
    return NOTICE_TEMPLATES.get(template or "", template) if kind == "advance_notice" else template


def answer_link(public_base_url: str, token: str) -> str:
    return f"{public_base_url.rstrip('/')}{ANSWER_PATH}{token}"


LINE_BREAK = "\ue000"  # ``{{ br }}`` in a text template: a line break the SMS keeps (the link on its own line)


def render_text(template: str, **context) -> str:
    """Render a text message; the template's own line breaks are for its reader, only ``{{ br }}`` stays."""
    # The reply menu ("1無事 2要支援 ...") comes from the table, like the parser's digits.
    text = render(f"messages/{template}.txt", **{"menu": states.reply_menu(), "br": LINE_BREAK, **context})
    text = re.sub(r"\s*\n\s*", " ", text).strip()
    return re.sub(rf"[ ]*{LINE_BREAK}[ ]*", "\n", text).strip()


def render_message(
    template: str,
    *,
    drill: bool,
    public_base_url: str,
    token: str | None,
    sender: str,
    replies: bool,
    round_id: int | None = None,
) -> str:
    """A safety-check text: ``sender`` (e.g. the prefecture) first; it invites SMS replies only when
    they can arrive (``replies``), else it points to the link and says a call will follow. A staff text
    (``STAFF_TEMPLATES``) links to round ``round_id``'s page instead."""
    if template in STAFF_TEMPLATES:
        link = f"{public_base_url.rstrip('/')}{ROUND_PATH}{round_id}" if round_id else ""
    else:
        link = answer_link(public_base_url, token) if token else ""
    return render_text(template, drill=drill, link=link, sender=sender, replies=replies)


def segments(text: str) -> int:
    return count_segments(text)[0]


def budget_samples(template: str, *, public_base_url: str, sender: str, replies: bool):
    """Every text ``template`` can become, at its longest: drill label, longest token, every answer."""
    link = answer_link(public_base_url, "x" * TOKEN_MAX_CHARS)
    answers = [{"state_label": label, "hours": hours} for label in STATE_LABELS.values() for hours in (None, "720")]
    for drill in (False, True):
        for context in answers if template == "reply_ack" else [{}]:
            yield render_text(template, drill=drill, link=link, sender=sender, replies=replies, **context)


def check_budget(*, public_base_url: str, sender: str, replies: bool) -> None:
    """Refuse settings that push any message past its segment budget (UCS-2: 70, or 67 a part)."""
    for template, budget in SEGMENT_BUDGET.items():
        for sample in budget_samples(template, public_base_url=public_base_url, sender=sender, replies=replies):
            if segments(sample) > budget:
                raise ValueError(
                    f"the {template} SMS would take {segments(sample)} segments (at most {budget}) with "
                    f"BCP_PUBLIC_BASE_URL={public_base_url!r} and BCP_SENDER_NAME={sender!r}: "
                    "public_base_url is too long, or use a shorter host or sender name"
                )


def check_settings_budget(settings) -> None:
    check_budget(public_base_url=settings.public_base_url, sender=settings.sender_name, replies=settings.sms_replies)
