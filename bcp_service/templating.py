"""The one Jinja environment: StrictUndefined everywhere, autoescape for HTML and XML (TwiML) only.

Templates live in ``bcp_service/templates/<domain>/`` and, for BCP drafts, in the repository's
``templates/bcp/`` (reachable as ``bcp/...``).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from bcp_service.lanes import banner
from bcp_service.timeutil import local

PACKAGE_TEMPLATES = Path(__file__).parent / "templates"
REPO_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def jst(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Show a stored UTC time in the display zone (``settings.timezone``, Japan time by default)."""
    if value is None:
        return ""
    return local(value).strftime(fmt)


HIDDEN_COUNT = "非表示（少数）"


def count(value: int | None) -> str:
    """A count with thousands separators; None is a small count hidden from the aggregate role."""
    return HIDDEN_COUNT if value is None else f"{value:,}"


@lru_cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader([str(PACKAGE_TEMPLATES), str(REPO_TEMPLATES)]),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "htm", "j2.html", "xml"), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["jst"] = jst
    env.filters["count"] = count
    env.globals["paused_lanes"] = banner  # the staff pages' banner of paused sending lanes (issue 26.1)
    return env


def render(name: str, **context) -> str:
    return environment().get_template(name).render(**context)
