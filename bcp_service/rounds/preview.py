"""What a round would do before it is started: people, messages, SMS segments and the time to send.

Read-only and count-only (no personal data), so the page can show it before a person confirms.
The same target conditions and starter scope as ``service.start_round`` are used, so the figures
are the ones the round will have if nothing in the registry changes in between.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func
from sqlmodel import Session, col, select

from bcp_service.answer_tokens import TOKEN_MAX_CHARS
from bcp_service.channels import CHANNELS
from bcp_service.config import Settings
from bcp_service.contacts import choose, contacts_of_patients
from bcp_service.models import Patient
from bcp_service.rounds.messages import first_template, render_message, segments
from bcp_service.rounds.service import Actor
from bcp_service.rounds.targets import RoundTarget, resolve_codes, target_conditions


@dataclass(frozen=True)
class RoundPreview:
    people: int
    messages: int  # first messages queued: people with a contact some channel reaches (contacts.choose)
    no_contact: int  # people without one: escalation and nurses must reach them
    segments_per_message: int
    segments: int  # of the SMS among them
    rate_per_second: float  # 0: no limit
    send_seconds: float | None  # None when the rate is not limited
    sample_text: str
    by_channel: dict[str, int] = field(default_factory=dict)  # first messages per channel (sms, voice)

    @property
    def by_channel_label(self) -> str:
        return "、".join(f"{CHANNELS[name].label} {count:,}通" for name, count in self.by_channel.items() if count)

    @property
    def send_time_label(self) -> str:
        if self.send_seconds is None:
            return "送信速度の上限なし（すぐに送信されます）"
        seconds = math.ceil(self.send_seconds)
        if seconds < 60:
            return f"約{max(seconds, 1)}秒"
        minutes, rest = divmod(seconds, 60)
        if minutes < 60:
            return f"約{minutes}分{rest:02d}秒" if rest else f"約{minutes}分"
        hours, minutes = divmod(minutes, 60)
        return f"約{hours}時間{minutes:02d}分"


def preview_round(
    *, session: Session, actor: Actor, target: RoundTarget, drill: bool, settings: Settings, kind: str = "safety_check"
) -> RoundPreview:
    target = resolve_codes(session=session, target=target)
    conditions = [*target_conditions(target), *actor.scope]
    people = session.exec(select(func.count()).select_from(Patient).where(*conditions)).one()
    # The rule the round's first messages follow (rounds/creation.py): contacts.choose over each patient's
    # usable contacts, so a landline-only patient counts as a call, not as "no contact".
    by_patient = contacts_of_patients(session=session, patient_ids=select(col(Patient.id)).where(*conditions))
    by_channel: Counter[str] = Counter(dict.fromkeys(CHANNELS, 0))
    for contacts in by_patient.values():
        for _contact, channel in choose(contacts, "first"):
            by_channel[channel] += 1
    reachable = sum(by_channel.values())
    texts = sum(count for name, count in by_channel.items() if CHANNELS[name].uses_template)
    text = render_message(
        first_template(kind),
        drill=drill,
        public_base_url=settings.public_base_url,
        token="x" * TOKEN_MAX_CHARS,
        sender=settings.sender_name,
        replies=settings.sms_replies,
    )
    per_message = segments(text)
    rate = settings.send_rate_per_second
    return RoundPreview(
        people=people,
        messages=reachable,
        no_contact=people - reachable,
        segments_per_message=per_message,
        segments=texts * per_message,
        rate_per_second=rate,
        send_seconds=(reachable / rate) if rate > 0 else None,
        sample_text=text,
        by_channel=dict(by_channel),
    )
