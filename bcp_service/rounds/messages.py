"""Message text and answer links.

A link carries a random token of at least 128 bits (22 or 23 URL-safe characters); the database
keeps its SHA-256 for lookup. The plain token sits in the outbox row only until the message has left, because the
text is rendered at send time (see docs/rounds.md, "Answer links").
"""

from __future__ import annotations

import hashlib
import re
import secrets

from bcp_service.rounds import states
from bcp_service.templating import render
from bcp_service.twilio_sim.segments import count_segments

TOKEN_BYTES = 16  # 128 bits
# Python's tokens are 22 characters; PostgreSQL's, drawn in SQL at round start, 23 (creation.py).
TOKEN_MAX_CHARS = 23
ANSWER_PATH = "/a/"
# Two UCS-2 segments: 2 x 67 characters once the text is split (70 only for a single segment).
MAX_SEGMENTS = 2
INITIAL_TEMPLATE = "check_initial"
STATE_LABELS = states.LABELS  # the one table of states (rounds.states)
DRILL_LABEL = "【訓練】"
# An advance-notice round (事前連絡, before a forecast hazard) has texts of its own: check_* → notice_*.
NOTICE_TEMPLATES = {"check_initial": "notice_initial", "check_reminder": "notice_reminder",
                    "check_family": "notice_family"}


def first_template(kind: str) -> str:
    return NOTICE_TEMPLATES[INITIAL_TEMPLATE] if kind == "advance_notice" else INITIAL_TEMPLATE


def template_for(kind: str, template: str | None) -> str | None:
    """The template of a follow-up message in a round of this kind."""
    return NOTICE_TEMPLATES.get(template or "", template) if kind == "advance_notice" else template


def new_answer_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def answer_link(public_base_url: str, token: str) -> str:
    return f"{public_base_url.rstrip('/')}{ANSWER_PATH}{token}"


def render_text(template: str, **context) -> str:
    """Render a text message; SMS has no use for the template's line breaks."""
    # The reply menu ("1無事 2要支援 ...") comes from the table, like the parser's digits.
    text = render(f"messages/{template}.txt", **{"menu": states.reply_menu(), **context})
    return re.sub(r"\s*\n\s*", " ", text).strip()


def render_message(template: str, *, drill: bool, public_base_url: str, token: str | None) -> str:
    link = answer_link(public_base_url, token) if token else ""
    return render_text(template, drill=drill, link=link)


def segments(text: str) -> int:
    return count_segments(text)[0]


def check_budget(public_base_url: str) -> None:
    """Refuse a base URL that would push the first message past two segments."""
    sample = render_message(INITIAL_TEMPLATE, drill=True, public_base_url=public_base_url, token="x" * TOKEN_MAX_CHARS)
    if segments(sample) > MAX_SEGMENTS:
        raise ValueError(
            f"public_base_url is too long: the safety-check SMS would take {segments(sample)} segments "
            f"(at most {MAX_SEGMENTS}); use a shorter host name"
        )
