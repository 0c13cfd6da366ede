"""Paging the on-call phone when a critical patient becomes unreachable (issue 25.4).

When the escalation job marks a critical-tier check unreachable (jobs._mark_unreachable), the on-call
number of the patient's visiting-nurse station and of the check's hub (``institution.oncall_phone``) is
sent one page per patient: an SMS (``templates/messages/oncall_page.txt``: no name, only
「担当の重症患者1名と連絡が取れません。」 and the round's staff link), or a call when the number takes no
SMS (a landline; the call speaks ``templates/voice/oncall_call.xml`` and asks nothing). The rows go
through ``outbox_writer.queue`` in the step's own transaction, so a page is queued exactly once.

A page row carries no ``check_id`` and no ``contact_id``: a reply or a keypad press from the on-call
phone can never be taken as the patient's answer, and a failed page does not fail over to the
patient's contacts. Each page is a ``check_event`` (action ``page``) on the check, so the round's
timeline shows it and the staff pages (``pages_for``) show a banner to the station and the hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from bcp_service import outbox_writer
from bcp_service.channels.sms.rule import can_text
from bcp_service.models import CheckEvent, Institution, Patient, SafetyCheck, SafetyRound
from bcp_service.models.enums import RiskTier
from bcp_service.models.rounds import CheckState, RoundState

PAGE_ACTION = "page"
PAGE_TEMPLATE = "oncall_page"
# The SMS template of a page: rendered with the round's staff link, never an answer link (rounds.messages).
STAFF_TEMPLATES = frozenset({PAGE_TEMPLATE})
ACTOR = "system:escalation"


def page_unreachable(
    session: Session,
    claimed: list[tuple],
    *,
    round_id: int,
    drill: bool,
    step_number: int,
    now: datetime,
    queued_at: datetime,
) -> list[dict]:
    """Queue the pages of the critical checks in ``claimed`` (rows of jobs._claim); their check events."""
    critical = [row[0] for row in claimed if row[2] == RiskTier.critical.value]
    if not critical:
        return []
    rows = session.exec(
        select(SafetyCheck.id, Patient.visiting_nurse_station_id, SafetyCheck.hub_id)
        .join(Patient, Patient.id == SafetyCheck.patient_id)
        .where(col(SafetyCheck.id).in_(critical))
    ).all()
    wanted = {i for _check, station, hub in rows for i in (station, hub) if i is not None}
    phones = (
        dict(
            session.exec(
                select(Institution.id, Institution.oncall_phone).where(
                    col(Institution.id).in_(sorted(wanted)), col(Institution.oncall_phone).is_not(None)
                )
            ).all()
        )
        if wanted
        else {}
    )
    messages: list[outbox_writer.Queued] = []
    events = []
    for check_id, station, hub in sorted(rows):
        # One page per number: a station that is its own hub, or shares the hub's phone, gets one.
        numbers = sorted({phones[i] for i in (station, hub) if i in phones})
        messages.extend(
            outbox_writer.Queued(
                None,
                RiskTier.critical.value,
                None,  # no check, no contact: see the docstring
                "sms" if can_text(phone) else "voice",
                phone,
            )
            for phone in numbers
        )
        whom = "+".join(name for name, i in (("station", station), ("hub", hub)) if i in phones)
        events.append(
            {
                "check_id": check_id,
                "round_id": round_id,
                "kind": "escalation",
                "step": step_number,
                "action": PAGE_ACTION,
                "at": now,
                "messages": len(numbers),
                "detail": f"oncall_{whom}" if numbers else "no_oncall_phone",
                "user_id": None,
                "actor_name": ACTOR,
            }
        )
    outbox_writer.queue(
        session=session, round_id=round_id, messages=messages, drill=drill, template=PAGE_TEMPLATE, now=queued_at
    )
    return events


# Whose pages show the banner: the station's staff (nurse, institution) and the hub's, by their scope.
BANNER_ROLES = frozenset({"nurse", "institution", "hub"})


@dataclass(frozen=True)
class PageBanner:
    """A running round in which critical patients of the caller's station or hub are unreachable and it was paged."""

    round_id: int
    round_title: str | None
    drill: bool
    patients: list[tuple[int, str]]  # (patient id, name): for the staff who serve them, audited by the page
    last_at: datetime


def banners_for(*, session: Session, principal) -> list[PageBanner]:
    """The banners of a staff page; none for roles that serve no patient directly."""
    if principal.role not in BANNER_ROLES or principal.scope_id is None:
        return []
    return pages_for(session=session, institution_id=principal.scope_id)


def pages_for(*, session: Session, institution_id: int) -> list[PageBanner]:
    """The running rounds in which this institution's critical patients are unreachable and it was paged."""
    rows = session.exec(
        select(SafetyRound.id, SafetyRound.title, SafetyRound.drill, Patient.id, Patient.name, CheckEvent.at)
        .join(SafetyCheck, SafetyCheck.id == CheckEvent.check_id)
        .join(Patient, Patient.id == SafetyCheck.patient_id)
        .join(SafetyRound, SafetyRound.id == CheckEvent.round_id)
        .where(
            CheckEvent.action == PAGE_ACTION,
            SafetyRound.state == RoundState.running,
            SafetyCheck.state == CheckState.unreachable.value,
            (Patient.visiting_nurse_station_id == institution_id) | (SafetyCheck.hub_id == institution_id),
        )
        .order_by(SafetyRound.id, Patient.id)
    ).all()
    grouped: dict[int, PageBanner] = {}
    for round_id, title, drill, patient_id, name, at in rows:
        banner = grouped.setdefault(round_id, PageBanner(round_id, title, drill, [], at))
        if (patient_id, name) not in banner.patients:
            banner.patients.append((patient_id, name))
        if at > banner.last_at:
            grouped[round_id] = PageBanner(round_id, title, drill, banner.patients, at)
    return list(grouped.values())


def banner_patient_ids(banners: list[PageBanner]) -> list[int]:
    return [patient_id for banner in banners for patient_id, _name in banner.patients]
