"""The channels: one folder each, registered in ``CHANNELS``, the one table every consumer reads.

The worker sends through ``CHANNELS[name].outbound``, the contact chooser (``contacts.choose``) and the
round preview read ``reaches``, the outbox writer ``uses_template``, the escalation ladder
``escalation_action``. Order matters: a contact's channels are tried in this order unless it prefers
another. Adding a channel: its folder here, one line below, its provider in ``notifiers/``
(docs/architecture.md, "Where to change X").
"""

from bcp_service.channels import email, sms, voice
from bcp_service.channels.base import Channel

CHANNELS: dict[str, Channel] = {channel.name: channel for channel in (sms.CHANNEL, voice.CHANNEL, email.CHANNEL)}


def own_address_channels() -> dict[str, Channel]:
    """The channels whose addresses are not the contact's phone (e-mail): the registry's forms, the API and
    the CSV columns offer one field each, kept in ``contact_address``."""
    return {name: channel for name, channel in CHANNELS.items() if channel.address_kind != "phone"}


def for_action(action: str) -> str | None:
    """The channel an escalation step names (``call`` → voice), or None for "each contact's first"."""
    return next((name for name, channel in CHANNELS.items() if channel.escalation_action == action), None)


__all__ = ["CHANNELS", "Channel", "for_action", "own_address_channels"]
