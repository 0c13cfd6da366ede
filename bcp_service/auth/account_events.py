"""Changes to accounts, told to whoever listens (the audit log: ``audit.accounts``, wired in ``create_app``).

Kept as a list so ``auth`` does not import ``audit`` (the layers: audit above auth). A listener
takes ``session``, ``principal`` (who changed it, or None), ``user`` and the ``before`` and
``after`` values of the fields that may have changed (``password`` as a marker, never a value).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LISTENERS: list[Callable[..., None]] = []


def register(listener: Callable[..., None]) -> None:
    if listener not in LISTENERS:
        LISTENERS.append(listener)


def changed(*, session: Any, principal: Any, user: Any, before: dict[str, Any], after: dict[str, Any]) -> None:
    for listener in LISTENERS:
        listener(session=session, principal=principal, user=user, before=before, after=after)
