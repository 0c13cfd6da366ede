"""What a channel is: a name, a label, the rule for which addresses it reaches, and where its sending lives.

A channel's folder (``channels/<name>/``) holds its reachability rule (``rule.py``, imported by the
contact chooser, the writer and the preview: below every domain) and its outbound side
(``outbound.py``: the text or TwiML it sends and the provider call; it may use domains, so the
worker loads it by name through ``Channel.outbound`` and the rules never import it).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol


class Outbound(Protocol):
    """``channels/<name>/outbound.py``: what the worker needs to send one message on the channel."""

    def render(self, message: Any, settings: Any, render_text: Callable[..., str]) -> tuple[str | None, str | None]:
        """(body or URL, None) to send, or (None, error code) when the message cannot be made; ``render_text``
        is the message templates' renderer (``rounds.messages.render_message``), handed in by the worker."""

    def send(
        self, notifier: Any, message: Any, body: str, settings: Any, callback: str | None, expires_in: float | None
    ) -> Awaitable[Any]:
        """The provider call, not yet awaited (the worker awaits it through ``outbox.lookup.send_once``, which
        looks a lost answer up first); it resolves to its ``SendResult``. ``callback``: the SMS status URL;
        ``expires_in``: seconds left of the message's validity (None: no limit)."""

    def cost(self, body: str | None) -> int:
        """Tokens of the shared rate this message takes (SMS: its segments)."""


@dataclass(frozen=True)
class Channel:
    name: str
    label: str  # in Japanese, for pages and labels
    reaches: Callable[[str], bool]  # can this address (E.164, or the channel's own kind) take the channel at all
    uses_template: bool  # a text rendered from a message template (SMS), or the channel's own prompt (voice)
    escalation_action: str | None  # the escalation step that means "use this channel" (voice: "call")
    outbound_module: str
    # "phone": addressed at the contact's phone (SMS, voice); otherwise the channel's own address kept in
    # the contact's ``contact_address`` row (e-mail), entered and exported under ``address_label``.
    address_kind: str = "phone"
    address_label: str | None = None
    # The address as stored, or ValueError with the reason in Japanese (forms, CSV, API); channels with
    # their own addresses only.
    normalise: Callable[[str], str] | None = None

    @property
    def outbound(self) -> Outbound:
        return importlib.import_module(self.outbound_module)  # type: ignore[return-value]
