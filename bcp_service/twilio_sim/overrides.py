"""Twilio's webhook connection overrides (``#ct=..&rt=..&tt=..&rc=..&rp=..`` on a callback URL), as the
simulator honours them (issue 28.3).

Twilio's documentation ("Webhooks (HTTP callbacks): Connection Overrides"): ``ct`` connect timeout (ms,
100..10000, default 5000), ``rt`` read timeout (ms, 100..15000, default 15000), ``tt`` total time for every
try (ms, 100..15000, default 15000), ``rc`` retries (0..5, default 1), ``rp`` the failures retried
(``4xx``, ``5xx``, ``ct``, ``rt``, ``all``; default ``ct,rt``). The fragment is never sent nor signed.

What the simulator chooses where Twilio's documentation is silent: the retries are spaced 0.5 s, 1 s,
2 s... (within ``tt``); a URL without a fragment is tried once (Twilio's default would retry a failed
connection once: the simulator stays stricter, so the reconciliation of lost receipts stays exercised).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

POLICIES = {"4xx", "5xx", "ct", "rt", "all"}


@dataclass(frozen=True)
class Overrides:
    connect_ms: int = 5000
    read_ms: int = 15000
    total_ms: int = 15000
    retries: int = 1
    policy: frozenset[str] = field(default_factory=lambda: frozenset({"ct", "rt"}))

    def retries_on(self, *, status: int | None, failure: str | None) -> bool:
        """Whether this outcome of a try is one the policy retries (``failure``: ``ct`` or ``rt``)."""
        if "all" in self.policy:
            return failure is not None or (status is not None and status >= 400)
        if failure is not None:
            return failure in self.policy
        if status is None:
            return False
        return (500 <= status < 600 and "5xx" in self.policy) or (400 <= status < 500 and "4xx" in self.policy)

    @staticmethod
    def delay(retry: int) -> float:
        return 0.5 * 2**retry


def _clamp(value: str, low: int, high: int, default: int) -> int:
    try:
        return max(low, min(high, int(value)))
    except ValueError:
        return default


def split(url: str) -> tuple[str, Overrides | None]:
    """The URL as requested and signed (no fragment), and its overrides (None: no fragment)."""
    base, hash_, fragment = url.partition("#")
    if not hash_:
        return url, None
    pairs = dict(parse_qsl(fragment, keep_blank_values=True))
    default = Overrides()
    policy = frozenset(p for p in pairs.get("rp", "").split(",") if p in POLICIES) or default.policy
    return base, Overrides(
        connect_ms=_clamp(pairs.get("ct", ""), 100, 10000, default.connect_ms),
        read_ms=_clamp(pairs.get("rt", ""), 100, 15000, default.read_ms),
        total_ms=_clamp(pairs.get("tt", ""), 100, 15000, default.total_ms),
        retries=_clamp(pairs.get("rc", ""), 0, 5, default.retries),
        policy=policy,
    )
