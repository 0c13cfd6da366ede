"""Sending one e-mail: the message template's text (with the answer link) as a plain-text mail over SMTP.

The text is rendered at send time, like an SMS's, by the worker's ``render_text``; it never invites a reply
(a mail reply reaches no one): the link is the way to answer. The SMTP server's answer is read as the
neutral facts the worker knows (``notifiers.twilio_codes``): a recipient refused for good (5xx) is
``not_this_channel`` (the address is marked, the contact's phone is not), an authentication failure an
``account_problem`` (the lane pauses), anything temporary (4xx, a timeout, no connection) ``retry_later``.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from bcp_service.channels.email.settings import EmailSettings, email_settings
from notifiers.base import PermanentSendError, SendResult, TransientSendError
from notifiers.twilio_codes import ACCOUNT_PROBLEM, NOT_THIS_CHANNEL

log = logging.getLogger("bcp_service.outbox")
FOOTER = "\n\n――\nこのメールは送信専用です。返信しても届きません。上のリンクから答えてください。"
DEVELOPMENT_NOTIFIERS = frozenset({"console", "fake"})


def render(message, settings, render_text) -> tuple[str | None, str | None]:
    if message.body:
        return message.body, None
    try:
        text = render_text(
            message.template or "",
            drill=message.drill,
            public_base_url=settings.public_base_url,
            token=message.answer_token,
            sender=settings.sender_name,
            replies=False,
            round_id=message.round_id,
        )
    except Exception:  # a broken template must fail the message, not the worker
        log.exception("outbox.render_failed", extra={"message_id": message.id})
        return None, "render"
    return text + FOOTER, None


def subject(drill: bool, sender: str) -> str:
    return f"{'【訓練】' if drill else ''}【{sender}】安否確認のお願い"


def build(message, body: str, settings, mail: EmailSettings) -> EmailMessage:
    mail_message = EmailMessage()
    mail_message["From"] = mail.sender
    mail_message["To"] = message.to_number
    mail_message["Subject"] = subject(message.drill, settings.sender_name)
    mail_message["Date"] = formatdate(localtime=False)
    mail_message["Message-ID"] = make_msgid(
        idstring=f"outbox{message.id}", domain=mail.sender.rpartition("@")[2] or None
    )
    mail_message.set_content(body, charset="utf-8")
    return mail_message


def send(notifier, message, body: str, settings, callback: str | None, expires_in: float | None):
    """The send (a coroutine); the notifier (SMS and calls) plays no part. A mail has no validity to pass on."""
    return deliver(message, body, settings, email_settings())


async def deliver(message, body: str, settings, mail: EmailSettings) -> SendResult:
    mail_message = build(message, body, settings, mail)
    message_id = str(mail_message["Message-ID"])
    if not mail.host:
        if settings.notifier in DEVELOPMENT_NOTIFIERS:  # development sends nothing to anyone
            log.info("email.not_sent_no_server", extra={"message_id": message.id})
            return SendResult(provider_id=message_id, status="sent")
        raise PermanentSendError(code="smtp_unconfigured")  # the message fails where a person sees it
    try:
        await aiosmtplib.send(
            mail_message,
            hostname=mail.host,
            port=mail.port,
            username=mail.username,
            password=mail.password.get_secret_value() if mail.password else None,
            start_tls=mail.starttls and not mail.tls,
            use_tls=mail.tls,
            timeout=mail.timeout_seconds,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        raise _refused(min((e.code for e in exc.recipients), default=550)) from None
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise PermanentSendError(code=f"smtp_{exc.code}", fact=ACCOUNT_PROBLEM, reason="auth") from None
    except aiosmtplib.SMTPResponseException as exc:
        raise _refused(exc.code) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        # No server answer (connection, timeout): worth trying again. The text says no address.
        raise TransientSendError(f"smtp {type(exc).__name__}", code="smtp_connect") from None
    return SendResult(provider_id=message_id, status="sent")


def _refused(code: int) -> Exception:
    """An SMTP reply code as the worker's error: 5xx for good (the address), 4xx worth another try."""
    if 500 <= code < 600:
        return PermanentSendError(code=f"smtp_{code}", fact=NOT_THIS_CHANNEL)
    return TransientSendError(code=f"smtp_{code}")


def cost(body: str | None) -> int:
    """Mail does not go through the provider's shared rate (SMS segments, calls)."""
    return 0
