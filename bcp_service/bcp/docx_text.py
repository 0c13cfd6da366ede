"""Inline text for the .docx: runs, whitespace rules for Japanese, and width estimates."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from docx.enum.text import WD_COLOR_INDEX
from docx.text.paragraph import Paragraph

_CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_CHAR = re.compile(f"[{_CJK}]")
HTML_SPACE = re.compile(r"[ \t\r\n\f]+")
# A blank's label may wrap inside its cell, so it should not widen its column to full length.
_BLANK_UNITS = 20


@dataclass
class Segment:
    text: str
    bold: bool = False
    blank: bool = False
    br: bool = False


@dataclass
class CellSource:
    header: bool
    segments: list[Segment] = field(default_factory=list)


_SOFT = "\x00"  # whitespace that held a line break in the template source
_BR = "\x01"


def _is_cjk(ch: str) -> bool:
    return bool(_CJK_CHAR.match(ch))


def normalise(segments: list[Segment]) -> list[Segment]:
    """Collapse whitespace the way a browser would, except at source line breaks between CJK.

    Template lines break inside Japanese sentences; shown as a space (as a browser or Word
    would) that reads like a typo. A literal space, as in 「架空 一郎」, is kept.
    """
    chars: list[tuple[str, bool, bool]] = []
    for seg in segments:
        if seg.br:
            chars.append((_BR, False, False))
            continue
        text = HTML_SPACE.sub(lambda m: _SOFT if "\n" in m.group() else " ", seg.text)
        chars.extend((ch, seg.bold, seg.blank) for ch in text)

    kept: list[tuple[str, bool, bool]] = []
    i = 0
    while i < len(chars):
        if chars[i][0] not in (" ", _SOFT):
            kept.append(chars[i])
            i += 1
            continue
        j, soft = i, False
        while j < len(chars) and chars[j][0] in (" ", _SOFT):
            soft |= chars[j][0] == _SOFT
            j += 1
        before = kept[-1][0] if kept else _BR
        after = chars[j][0] if j < len(chars) else _BR
        at_edge = _BR in (before, after)
        if not at_edge and not (soft and _is_cjk(before) and _is_cjk(after)):
            kept.append((" ", chars[i][1], chars[i][2]))
        i = j

    out: list[Segment] = []
    for ch, bold, blank in kept:
        if ch == _BR:
            out.append(Segment("", br=True))
        elif out and not out[-1].br and (out[-1].bold, out[-1].blank) == (bold, blank):
            out[-1].text += ch
        else:
            out.append(Segment(ch, bold, blank))
    return out


def emit(paragraph: Paragraph, segments: list[Segment]) -> None:
    for seg in normalise(segments):
        if seg.br:
            paragraph.add_run().add_break()
            continue
        run = paragraph.add_run(seg.text)
        if seg.bold or seg.blank:
            run.bold = True
        if seg.blank:
            run.font.highlight_color = WD_COLOR_INDEX.YELLOW


def display_width(text: str) -> int:
    """Width in half-width units; Latin capitals and digits run wider than half an em."""
    units = 0.0
    for ch in text:
        if _is_cjk(ch):
            units += 2
        elif ch.isupper() or ch.isdigit():
            units += 1.3
        else:
            units += 1.1
    return math.ceil(units)


def cell_width(cell: CellSource) -> int:
    """Widest line in half-width character units; a blank counts short because it may wrap."""
    widest = current = 0
    for seg in cell.segments:
        if seg.br:
            current = 0
            continue
        width = display_width(HTML_SPACE.sub(" ", seg.text).strip())
        current += min(width, _BLANK_UNITS) if seg.blank else width
        widest = max(widest, current)
    return widest
