"""Reading a JMA Atom feed (高頻度 eqvol.xml / extra.xml, or the long-period *_l.xml)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException

NS_ATOM = "http://www.w3.org/2005/Atom"
# The long-period feeds hold a week of entries: a few MB.
MAX_FEED_BYTES = 20 * 1024 * 1024


class FeedError(ValueError):
    """The document is not a usable Atom feed; the message says why."""


@dataclass(frozen=True)
class FeedEntry:
    entry_id: str
    title: str
    updated: datetime
    link: str
    author: str


def _q(tag: str) -> str:
    return f"{{{NS_ATOM}}}{tag}"


def parse_feed(data: bytes) -> list[FeedEntry]:
    """Entries oldest first (feeds list newest first), so a cancellation follows what it cancels."""
    if len(data) > MAX_FEED_BYTES:
        raise FeedError(f"the feed is {len(data)} bytes, over the {MAX_FEED_BYTES}-byte limit")
    try:
        root = DefusedET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise FeedError(f"the feed uses a DTD or entities ({type(exc).__name__}); refused") from None
    except ParseError as exc:
        raise FeedError(f"the feed is not well-formed XML: {exc}") from None
    if root.tag != _q("feed"):
        raise FeedError(f"root element is '{root.tag}'; expected an Atom feed ({NS_ATOM})")
    entries = []
    for index, entry in enumerate(root.findall(_q("entry"))):
        entry_id = (entry.findtext(_q("id")) or "").strip()
        title = (entry.findtext(_q("title")) or "").strip()
        updated_text = (entry.findtext(_q("updated")) or "").strip()
        link = entry.find(_q("link"))
        href = (link.get("href") or "").strip() if link is not None else ""
        if not entry_id or not href or not updated_text:
            raise FeedError(f"entry {index} lacks id, link or updated")
        try:
            updated = datetime.fromisoformat(updated_text.replace("Z", "+00:00"))
        except ValueError:
            raise FeedError(f"entry {index} has updated '{updated_text}', not an ISO 8601 time") from None
        if updated.tzinfo is None:
            raise FeedError(f"entry {index} has updated '{updated_text}' without a UTC offset")
        author = (entry.findtext(f"{_q('author')}/{_q('name')}") or "").strip()
        entries.append(FeedEntry(entry_id[:500], title[:200], updated, href[:500], author[:100]))
    entries.sort(key=lambda e: e.updated)
    return entries
