"""Who a message or a call comes from, checked against Twilio's rules for Japan.

Twilio has no SMS-capable Japanese numbers: SMS to Japanese phones goes from an alphanumeric
sender ID, a Messaging Service or a foreign long code, and nobody can reply to a sender ID. A call
needs a phone number as caller ID (a Japanese 050 number bought on Twilio, or a verified caller
ID). So the SMS sender and the voice caller ID are two settings, and this module refuses, at
start, a combination that cannot work, saying which one does (docs/deployment-twilio-japan.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
# Twilio: up to 11 characters, A-Z a-z 0-9 and space, at least one letter.
SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
# Japanese voices of <Say>: Amazon Polly (standard and neural) and Google's ja-JP voices.
JA_VOICE = re.compile(
    r"^(Polly\.(Mizuki|Takumi|Kazuha|Tomoko)(-Neural)?|Polly\.(Kazuha|Tomoko|Takumi)-Generative"
    r"|Google\.ja-JP-(Standard|Wavenet|Neural2|Chirp3-HD)-[A-Za-z]+)$"
)
WORKS = (
    "for Japan set BCP_TWILIO_SMS_SENDER to an alphanumeric sender ID (e.g. KANAGAWA) or "
    "BCP_TWILIO_MESSAGING_SERVICE_SID to a Messaging Service, BCP_TWILIO_VOICE_CALLER_ID to a 050 "
    "number bought on Twilio or a verified caller ID, and BCP_SMS_REPLIES=false"
)


@dataclass(frozen=True)
class Senders:
    sms_from: str | None  # an alphanumeric sender ID or a number (From)
    messaging_service_sid: str | None  # or a Messaging Service (MessagingServiceSid)
    caller_id: str | None  # From of every call

    @property
    def sender_id(self) -> bool:
        return self.sms_from is not None and not self.sms_from.startswith("+")


def _phone(value: str) -> phonenumbers.PhoneNumber | None:
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return None
    return parsed if phonenumbers.is_valid_number(parsed) else None


def resolve_senders(
    *, sms_sender: str | None, messaging_service_sid: str | None, caller_id: str | None, legacy_from_number: str | None
) -> Senders:
    """The senders in use; the old single ``BCP_TWILIO_FROM_NUMBER`` fills whichever is unset."""
    if sms_sender is None and messaging_service_sid is None:
        sms_sender = legacy_from_number
    if caller_id is None and legacy_from_number and legacy_from_number.startswith("+"):
        caller_id = legacy_from_number
    return Senders(sms_sender or None, messaging_service_sid or None, caller_id or None)


def check_voice_name(voice_name: str) -> None:
    if not JA_VOICE.match(voice_name):
        raise ValueError(
            f"BCP_VOICE_NAME {voice_name!r} is not a Japanese voice of Twilio's <Say> "
            "(e.g. Polly.Mizuki, Polly.Takumi-Neural, Google.ja-JP-Wavenet-A)"
        )


def check_hub_phone(number: str | None) -> None:
    if number is None:
        return
    parsed = _phone(number)
    if parsed is None or parsed.country_code != 81 or not number.startswith("+"):
        raise ValueError(f"BCP_HUB_PHONE {number!r} must be a Japanese number in E.164 (e.g. +81431234567)")


def check_senders(senders: Senders, *, account_sid: str, sms_replies: bool) -> None:
    """Raise ValueError naming the setting at fault and the combination that works."""
    problems: list[str] = []
    if not ACCOUNT_SID.match(account_sid):
        problems.append("BCP_TWILIO_ACCOUNT_SID is not an account SID (AC and 32 hex digits)")
    if (senders.sms_from is None) == (senders.messaging_service_sid is None):
        problems.append("set exactly one SMS sender: BCP_TWILIO_SMS_SENDER or BCP_TWILIO_MESSAGING_SERVICE_SID")
    if senders.messaging_service_sid is not None and not SERVICE_SID.match(senders.messaging_service_sid):
        problems.append("BCP_TWILIO_MESSAGING_SERVICE_SID is not a Messaging Service SID (MG and 32 hex digits)")
    if senders.sms_from is not None:
        if senders.sms_from.startswith("+"):
            parsed = _phone(senders.sms_from)
            if parsed is None:
                problems.append("BCP_TWILIO_SMS_SENDER is neither a sender ID nor a valid E.164 number")
            elif parsed.country_code == 81:
                problems.append("Twilio has no SMS-capable Japanese numbers: a +81 SMS sender is refused (21606)")
        elif not SENDER_ID.match(senders.sms_from):
            problems.append(
                "BCP_TWILIO_SMS_SENDER: a sender ID has 1-11 letters, digits or spaces, one letter at least"
            )
        elif sms_replies:
            problems.append("nobody can reply to an alphanumeric sender ID: set BCP_SMS_REPLIES=false")
    if senders.caller_id is None:
        problems.append("calls need BCP_TWILIO_VOICE_CALLER_ID (a Messaging Service or sender ID cannot call)")
    elif _phone(senders.caller_id) is None or not senders.caller_id.startswith("+"):
        problems.append("BCP_TWILIO_VOICE_CALLER_ID must be a phone number in E.164 (+8150...)")
    elif _phone(senders.caller_id).country_code != 81:  # type: ignore[union-attr]
        # People in Japan do not pick up, nor call back, a foreign number; carriers flag it too.
        problems.append(
            "BCP_TWILIO_VOICE_CALLER_ID must be a Japanese number (+8150... bought on Twilio, "
            "or a verified +81 landline)"
        )
    if problems:
        raise ValueError("; ".join(problems) + f". What works: {WORKS}")
