"""After a restore from a backup: reconcile with the provider, mark each open round, list what may be missing.

Restoring an SQLite backup mid-round lost 446 answers the patients had seen thanked, sent the same SMS
again to 877 and marked nothing (issue 28). So, before any worker sends, ``reconcile`` (run by
``bcp-service db restore``) takes the provider's own record of what it sent and received since the
backup was taken:

- a message still queued (or claimed) in the restored database that the provider already took is
  recorded as sent with the provider's id, not sent again: matched by the answer-link token in its text
  (its hash is the row's ``answer_token_hash``), by the same text to the same number for messages without
  a link, and by the number for calls;
- each open round gets a ``round_restore`` row (the round page and the board show it) with the checks
  whose answers may be missing: still unanswered here, though the provider delivered them a message or
  a call after the backup (the answer link may have been used), or received an SMS from their number,
  or the webhook journal holds a reply from it (the journal is replayed as usual);
- one audit event ``db.restore`` says when and from what backup time.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import update
from sqlmodel import Session, col, select

from bcp_service.answer_tokens import hash_token
from bcp_service.audit.service import record as audit
from bcp_service.models import OutboxMessage, RoundRestore, SafetyCheck, SafetyRound
from bcp_service.models.base import utcnow
from bcp_service.models.outbox import MessageState
from bcp_service.models.rounds import CheckState, RoundState
from bcp_service.rounds.restored import latest_restore  # noqa: F401 (where the pages read it)
from notifiers.twilio_records import ProviderRecord

log = logging.getLogger("bcp_service.ops")
TOKEN_IN_LINK = re.compile(r"/a/([A-Za-z0-9_-]{16,32})")
NOT_LEFT = (MessageState.queued.value, MessageState.sending.value)


@dataclass
class RestoreReport:
    backup_taken_at: datetime
    rounds: dict[int, RoundRestore] = field(default_factory=dict)
    suppressed: int = 0
    provider_records: int = 0


def journal_replies(directory: Path, *, since: datetime) -> list[tuple[str, datetime]]:
    """(number, time) of SMS replies still waiting in the webhook journal, received after ``since``."""
    found = []
    for path in [*directory.glob("webhooks-*.jsonl"), *directory.glob("webhooks-*.replaying")]:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            at = datetime.fromtimestamp(entry.get("at", 0), UTC)
            if entry.get("kind") == "inbound" and at >= since:
                found.append((str(entry["item"].get("from_number", "")), at))
    return found


def reconcile(
    session: Session,
    *,
    backup_taken_at: datetime,
    records: list[ProviderRecord],
    journal: list[tuple[str, datetime]] = (),
    source: str = "",
) -> RestoreReport:
    """Apply the provider's record to the restored database (the caller's transaction)."""
    report = RestoreReport(backup_taken_at=backup_taken_at, provider_records=len(records))
    open_rounds = session.exec(select(SafetyRound.id).where(SafetyRound.state == RoundState.running.value)).all()
    if not open_rounds:
        _audit(session, report, source)
        return report
    pending = session.exec(
        select(OutboxMessage).where(
            col(OutboxMessage.round_id).in_(open_rounds), col(OutboxMessage.state).in_(NOT_LEFT)
        )
    ).all()
    by_hash = {m.answer_token_hash: m for m in pending if m.answer_token_hash}
    by_text = {(m.to_number, m.body): m for m in pending if m.body and m.channel == "sms"}
    calls = {m.to_number: m for m in pending if m.channel == "voice"}
    taken = set(
        session.exec(
            select(OutboxMessage.provider_message_id).where(
                col(OutboxMessage.provider_message_id).in_([r.sid for r in records])
            )
        ).all()
    )
    # number -> (check ids, round ids) of the open rounds, for what the provider says came and went
    contacted: dict[str, list[tuple[int, int]]] = {}
    for check_id, round_id, to in session.exec(
        select(OutboxMessage.check_id, OutboxMessage.round_id, OutboxMessage.to_number).where(
            col(OutboxMessage.round_id).in_(open_rounds)
        )
    ).all():
        if check_id is not None and (check_id, round_id) not in contacted.setdefault(to, []):
            contacted[to].append((check_id, round_id))
    missing: dict[int, dict[int, dict]] = {round_id: {} for round_id in open_rounds}

    def may_be_missing(number: str, why: str, at: datetime) -> None:
        for check_id, round_id in contacted.get(number, []):
            known = missing[round_id].get(check_id)
            if known is None or known["why"] == "provider_sent":  # a reply says more than a delivery
                missing[round_id][check_id] = {"check_id": check_id, "why": why, "at": at.isoformat()}

    suppressed: dict[int, int] = {}
    for rec in records:
        if rec.direction == "inbound":
            if rec.kind == "sms":
                may_be_missing(rec.from_ or "", "provider_reply", rec.created_at)
            continue
        row = _match(rec, by_hash, by_text, calls)
        if row is not None and rec.sid not in taken and row.state in NOT_LEFT:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id)
                .values(
                    state=MessageState.sent.value,
                    provider_message_id=rec.sid,
                    sent_at=rec.created_at,
                    status_at=rec.created_at,
                    claimed_by=None,
                    claimed_at=None,
                    answer_token=None,
                    attempts=OutboxMessage.attempts + 1,
                )
            )
            row.state = MessageState.sent.value
            taken.add(rec.sid)
            suppressed[row.round_id] = suppressed.get(row.round_id, 0) + 1
        if rec.status not in ("failed", "undelivered", "canceled"):
            may_be_missing(rec.to, "provider_sent", rec.created_at)
    for number, at in journal:
        may_be_missing(number, "journal_reply", at)
    answered = _answered(session, [c for checks in missing.values() for c in checks])
    now = utcnow()
    for round_id in open_rounds:
        # A message delivered to a check answered before the backup hides nothing; a reply after it may.
        items = sorted(
            (v for k, v in missing[round_id].items() if k not in answered or v["why"] != "provider_sent"),
            key=lambda v: v["check_id"],
        )
        marker = RoundRestore(
            round_id=round_id,
            restored_at=now,
            backup_taken_at=backup_taken_at,
            suppressed=suppressed.get(round_id, 0),
            possibly_missing=items,
        )
        session.add(marker)
        report.rounds[round_id] = marker
    report.suppressed = sum(suppressed.values())
    session.flush()
    _audit(session, report, source)
    log.warning(
        "db.restore_reconciled",
        extra={
            "rounds": len(open_rounds),
            "suppressed": report.suppressed,
            "possibly_missing": sum(len(m.possibly_missing) for m in report.rounds.values()),
        },
    )
    return report


def _match(rec: ProviderRecord, by_hash: dict, by_text: dict, calls: dict) -> OutboxMessage | None:
    if rec.kind == "call":
        return calls.get(rec.to)
    for token in TOKEN_IN_LINK.findall(rec.body):
        row = by_hash.get(hash_token(token))
        if row is not None and row.to_number == rec.to:
            return row
    return by_text.get((rec.to, rec.body))


def _answered(session: Session, check_ids: list[int]) -> set[int]:
    if not check_ids:
        return set()
    return set(
        session.exec(
            select(SafetyCheck.id).where(
                col(SafetyCheck.id).in_(check_ids), SafetyCheck.state != CheckState.no_answer.value
            )
        ).all()
    )


def _audit(session: Session, report: RestoreReport, source: str) -> None:
    audit(
        session=session,
        principal=None,
        action="db.restore",
        resource="bcp-service db restore",
        detail=(
            f"backup taken {report.backup_taken_at.isoformat()}; {len(report.rounds)} open rounds marked; "
            f"{report.suppressed} messages the provider already had not sent again; "
            f"{report.provider_records} provider records read{'; ' + source if source else ''}"
        )[:500],
    )
