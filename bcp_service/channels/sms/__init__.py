"""SMS: the first message of a mobile number; its text from ``templates/messages/`` (``outbound.py``)."""

from bcp_service.channels.base import Channel
from bcp_service.channels.sms.rule import can_text

CHANNEL = Channel(
    name="sms",
    label="SMS",
    reaches=can_text,
    uses_template=True,
    escalation_action=None,
    outbound_module="bcp_service.channels.sms.outbound",
)
