"""Extra patient-scope providers for nurses (the rounds package registers "assigned to me in a round").

Kept as a list so ``auth`` does not import ``rounds``: each provider takes a Principal and returns
an SQL condition on ``Patient``.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement

PROVIDERS: list[Callable[[object], ColumnElement[bool]]] = []


def register(provider: Callable[[object], ColumnElement[bool]]) -> None:
    if provider not in PROVIDERS:
        PROVIDERS.append(provider)
