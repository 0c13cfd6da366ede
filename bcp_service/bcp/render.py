"""Render a BCP draft from its context into HTML, recording every blank on the way.

The templates produce a restricted HTML subset (see ``docx_writer``) that is both the preview
page and the source of the .docx, so what a person previews is what they will edit.

Every value that may be missing goes through the ``draft`` object the templates receive:
``draft.field`` for data the registry should hold, ``draft.ask`` for facts only the facility
knows. Both either print the value or print a marked blank, and record which it was under the
current chapter; that record is what the blank list and the completeness figures come from.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape
from pydantic import BaseModel, ConfigDict, computed_field

from bcp_service.bcp.context import BcpContext, Therapy

DEFAULT_TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "bcp"

BlankKind = Literal["registry", "local"]


class Blank(BaseModel):
    model_config = ConfigDict(frozen=True)

    section: str
    label: str
    kind: BlankKind = "registry"
    heading: str | None = None


class SectionCompleteness(BaseModel):
    model_config = ConfigDict(frozen=True)

    section: str
    filled: int
    total: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ratio(self) -> float:
        # A chapter with nothing to fill in is complete, not undefined.
        return self.filled / self.total if self.total else 1.0


class RenderedDraft(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    html: str
    blanks: list[Blank]
    sections: list[SectionCompleteness]
    overall_completeness: float
    unused_local_facts: list[str] = []


def format_value(value: object, *, unit: str = "", yes: str = "あり", no: str = "なし") -> str:
    if isinstance(value, bool):
        return yes if value else no
    if isinstance(value, datetime):
        return f"{value.year}年{value.month}月{value.day}日"
    if isinstance(value, date):
        return f"{value.year}年{value.month}月{value.day}日"
    if isinstance(value, float):
        text = f"{value:.1f}".rstrip("0").rstrip(".")
        return f"{text}{unit}"
    if isinstance(value, int):
        return f"{value}{unit}"
    if isinstance(value, (list, tuple)):
        return "、".join(str(v) for v in value) if value else no
    return f"{value}{unit}"


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class DraftRecorder:
    """Per-render state handed to the templates as ``draft``."""

    def __init__(self, local_facts: dict[str, str] | None = None) -> None:
        self._local_facts = dict(local_facts or {})
        self._used_facts: set[str] = set()
        self._chapter_no = 0
        self._section_no = 0
        self._chapter: str | None = None
        self._heading: str | None = None
        self._chapters: list[str] = []
        self._slots: dict[tuple[str, str], bool] = {}
        self._blanks: list[Blank] = []

    def chapter(self, title: str) -> Markup:
        self._chapter_no += 1
        self._section_no = 0
        self._chapter = f"{self._chapter_no}. {title}"
        self._heading = None
        self._chapters.append(self._chapter)
        return Markup("<h1>{}</h1>").format(self._chapter)

    def section(self, title: str, *, numbered: bool = True) -> Markup:
        if self._chapter is None:
            raise RuntimeError(f"section {title!r} opened before any chapter")
        if numbered:
            self._section_no += 1
            self._heading = f"{self._chapter_no}.{self._section_no} {title}"
        else:
            self._heading = title
        return Markup("<h2>{}</h2>").format(self._heading)

    def field(
        self,
        value: object,
        label: str,
        *,
        unit: str = "",
        yes: str = "あり",
        no: str = "なし",
        of: str | None = None,
    ) -> Markup:
        """``of`` names the row a table cell belongs to: the blank list says whose item it is,
        while the cell itself shows only the item, since its row already says whose it is."""
        full = f"{of}：{label}" if of else label
        if _is_missing(value):
            return self._record_blank(full, "registry", shown=label)
        self._record_filled(full)
        return escape(format_value(value, unit=unit, yes=yes, no=no))

    def ask(self, label: str) -> Markup:
        answer = self._local_facts.get(label)
        if _is_missing(answer):
            return self._record_blank(label, "local")
        self._used_facts.add(label)
        self._record_filled(label)
        return escape(answer)

    def require(self, items: Iterable[object] | None, label: str) -> Markup:
        """Record a list the plan cannot do without; print a blank only when it is empty."""
        if items:
            self._record_filled(label)
            return Markup("")
        return self._record_blank(label, "registry")

    def _current_chapter(self, label: str) -> str:
        if self._chapter is None:
            raise RuntimeError(f"field {label!r} used before any chapter")
        return self._chapter

    def _record_filled(self, label: str) -> None:
        key = (self._current_chapter(label), label)
        self._slots.setdefault(key, True)

    def _record_blank(self, label: str, kind: BlankKind, shown: str | None = None) -> Markup:
        key = (self._current_chapter(label), label)
        if key not in self._slots:
            self._slots[key] = False
            self._blanks.append(Blank(section=key[0], label=label, kind=kind, heading=self._heading))
        css = "blank" if kind == "registry" else "blank local"
        return Markup('<span class="{}">【要記入：{}】</span>').format(css, shown or label)

    @property
    def blanks(self) -> list[Blank]:
        return list(self._blanks)

    @property
    def unused_local_facts(self) -> list[str]:
        return sorted(set(self._local_facts) - self._used_facts)

    def completeness(self) -> list[SectionCompleteness]:
        result = []
        for chapter in self._chapters:
            states = [filled for (ch, _), filled in self._slots.items() if ch == chapter]
            result.append(SectionCompleteness(section=chapter, filled=sum(states), total=len(states)))
        return result


def _percent(ratio: float | None) -> str:
    return "—" if ratio is None else f"{round(ratio * 100)}%"


@lru_cache(maxsize=4)
def get_environment(template_dir: Path | None = None) -> Environment:
    """The one Jinja environment for BCP templates (cached per directory)."""
    env = Environment(
        loader=FileSystemLoader(str(template_dir or DEFAULT_TEMPLATE_DIR)),
        undefined=StrictUndefined,
        # Everything here is HTML, and facility and patient names are user data.
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["jp"] = format_value
    env.filters["percent"] = _percent
    env.globals["Therapy"] = Therapy
    return env


def draft_title(context: BcpContext) -> str:
    return f"{context.facility.name}\u3000業務継続計画（BCP）草案"


def render_draft(context: BcpContext, *, template_dir: Path | None = None) -> RenderedDraft:
    env = get_environment(Path(template_dir) if template_dir else None)
    recorder = DraftRecorder(context.local_facts)
    body = env.get_template(f"{context.plan_kind}.html").render(ctx=context, draft=recorder)

    sections = recorder.completeness()
    filled = sum(s.filled for s in sections)
    total = sum(s.total for s in sections)
    overall = filled / total if total else 1.0
    title = draft_title(context)
    html = env.get_template("document.html").render(
        ctx=context,
        title=title,
        body=Markup(body),
        blanks=recorder.blanks,
        sections=sections,
        overall=overall,
    )
    return RenderedDraft(
        title=title,
        html=html,
        blanks=recorder.blanks,
        sections=sections,
        overall_completeness=overall,
        unused_local_facts=recorder.unused_local_facts,
    )
