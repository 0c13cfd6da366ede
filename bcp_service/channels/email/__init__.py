"""E-mail: a plain-text mail in Japanese holding the answer link, for families far away and care managers.

Sent over SMTP (``outbound.py``, ``aiosmtplib``) to the server of ``settings.py`` (``BCP_SMTP_*``); a
recipient the server refuses for good (5xx) marks the address (its ``contact_address`` row), so the
next contact is tried. The demo and the tests run ``sink.py`` (``aiosmtpd`` on loopback) with a page of
the mail it received (``demo.py``). The answer comes back through the link, like an SMS's.
"""

from bcp_service.channels.base import Channel
from bcp_service.channels.email.rule import can_mail, normalise_email

CHANNEL = Channel(
    name="email",
    label="メール",
    reaches=can_mail,
    uses_template=True,
    escalation_action=None,
    outbound_module="bcp_service.channels.email.outbound",
    address_kind="email",
    address_label="メールアドレス",
    normalise=normalise_email,
)
