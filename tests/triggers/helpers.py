"""Shared constants and loaders for the trigger tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from bcp_service.triggers.areas import CHIBA_MUNICIPALITIES
from bcp_service.triggers.events import TriggerEvent, trigger_event_from_jma
from bcp_service.triggers.jma import JmaBulletin, parse_jma_bulletin

# Not "data/": the repository .gitignore drops every folder of that name.
DATA = Path(__file__).parent / "bulletins"
JST = timezone(timedelta(hours=9))

CHIBA = "121002"
CHOSHI = "122025"
ICHIKAWA = "122033"
FUNABASHI = "122041"
TATEYAMA = "122050"
MATSUDO = "122076"
NARITA = "122114"
NARASHINO = "122165"
INZAI = "122319"


def at(hour: int, minute: int, second: int = 0, day: int = 1) -> datetime:
    """A moment on the day of the fictional quake in the fixtures (2025-03-01 JST)."""
    return datetime(2025, 3, day, hour, minute, second, tzinfo=JST)


def load_bulletin(name: str) -> JmaBulletin:
    return parse_jma_bulletin((DATA / name).read_bytes())


def load_event(name: str) -> TriggerEvent:
    return trigger_event_from_jma(load_bulletin(name), known_municipalities=CHIBA_MUNICIPALITIES)


# Municipalities with registered patients in the scenarios; 松戸市 has none.
PATIENTS = frozenset({CHIBA, CHOSHI, ICHIKAWA, FUNABASHI, TATEYAMA, NARITA, NARASHINO, INZAI})
