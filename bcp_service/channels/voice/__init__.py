"""Voice: a call with a keypad answer; the first channel of a landline, the escalation's "call" step.

Its TwiML is ``templates/voice/`` served by the voice webhooks (``escalation/voice.py``, not moved
yet: another branch edits them); ``outbound.py`` places the call.
"""

from bcp_service.channels.base import Channel
from bcp_service.channels.voice.rule import can_call

CHANNEL = Channel(
    name="voice",
    label="電話",
    reaches=can_call,
    uses_template=False,
    escalation_action="call",
    outbound_module="bcp_service.channels.voice.outbound",
)
