"""Whether an outside event starts a safety-check round: a pure function of its inputs.

The caller loads what it knows about earlier events (`PriorEvent`), calls `decide`, stores the
`Decision` (every one, including "ignore", so the API can show why nothing happened) and acts
on it. The rules follow what Japanese safety-confirmation services do after an earthquake:

1. Drill (訓練) and test (試験) bulletins start nothing unless the config accepts them; an
   accepted one gives a round marked as an exercise, and exercises and real events never
   suppress or cancel each other.
2. A cancellation (取消) stops a round that has not been sent yet; one already sending is
   recorded as "cancel_too_late".
3. The same event id again: a correction (訂正) replaces the municipalities of a pending
   round; a repeat or a follow-up (VXSE51 then VXSE53 share an id) starts nothing unless it
   brings municipalities the event's rounds do not cover yet.
4. A municipality counts when its severity reaches the threshold and it has patients.
5. A municipality already covered, within the window, by another event of the same hazard
   counts only if this event is strictly stronger there (an aftershock that is stronger).
6. A round is scheduled `delay_seconds` ahead, so that a correction or cancellation can still
   change or stop it.
7. A stronger event of the same hazard in the same area while another event's round is still
   pending widens or upgrades that pending round ("merged_into_pending"); it never schedules a
   second round for the same people moments after the first. Each event's part is kept
   (``PriorEvent.contributions``): a later cancellation of the merged event takes back only what
   it brought ("cancelled_event_withdrawn"), or the whole round when nothing else justifies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bcp_service.timeutil import local
from bcp_service.triggers.areas import municipality_name
from bcp_service.triggers.events import EventStatus, Hazard, InfoType, TriggerEvent, severity_label
from bcp_service.triggers.schemas import (
    REASON_CODES,
    Action,
    Decision,
    GuardConfig,
    PriorEvent,
    PriorState,
    combine,
)

__all__ = ["REASON_CODES", "Action", "Decision", "GuardConfig", "PriorEvent", "PriorState", "decide"]

_LIVE: frozenset[str] = frozenset({"pending", "started"})


def decide(
    event: TriggerEvent,
    *,
    config: GuardConfig,
    municipalities_with_patients: set[str] | frozenset[str],
    prior: list[PriorEvent],
    now: datetime,
) -> Decision:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    exercise = event.status is not EventStatus.NORMAL
    if event.status is EventStatus.DRILL and not config.accept_drill:
        return _Say(event, now)(
            "ignore", "drill_ignored", "訓練報のため、安否確認は開始しません（訓練報を受け付けない設定です）。"
        )
    if event.status is EventStatus.TEST and not config.accept_test:
        return _Say(event, now)(
            "ignore", "test_ignored", "試験報のため、安否確認は開始しません（試験報を受け付けない設定です）。"
        )
    # An accepted exercise still reaches real phones; every line of its log must say so.
    say = _Say(event, now, {EventStatus.DRILL: "【訓練】", EventStatus.TEST: "【試験】"}.get(event.status, ""))

    priors = [p for p in prior if p.drill == exercise]
    same = sorted((p for p in priors if p.event_id == event.event_id), key=lambda p: p.first_seen_at)
    pending = [p for p in same if p.state == "pending"]
    started = [p for p in same if p.state == "started"]

    if event.info_type is InfoType.CANCEL:
        # Rounds this event widened or upgraded while they were pending (rule 7) answer for it too.
        merged = sorted(
            (p for p in priors if p.event_id != event.event_id and event.event_id in p.contributions),
            key=lambda p: p.first_seen_at,
        )
        return _on_cancel(
            say,
            event,
            [p for p in pending if event.event_id in p.sources()],
            started + [p for p in merged if p.state == "started"],
            [p for p in merged if p.state == "pending"],
        )
    if config.max_event_age_hours is not None and event.reported_at < now - timedelta(hours=config.max_event_age_hours):
        return say(
            "ignore",
            "stale_event",
            f"{_at(event.reported_at)}発表の情報で、{config.max_event_age_hours:g}時間以上前のため、"
            "安否確認は開始しません。",
        )
    found = _assess(event, config, municipalities_with_patients, priors, now)
    if pending or started:
        return _on_same_event(say, event, found, pending, started)
    return _on_new_event(say, event, config, found)


class _Say:
    """Builds the decision for one event, so each rule states only what differs."""

    def __init__(self, event: TriggerEvent, now: datetime, prefix: str = "") -> None:
        self.event, self.now, self.prefix = event, now, prefix

    def __call__(self, action: Action, reason: str, reason_ja: str, **fields: Any) -> Decision:
        if is_notice(self.event.event_id):
            reason_ja = reason_ja.replace("安否確認", "事前連絡")  # the officer reads what will be sent
        return Decision(
            action=action,
            reason=reason,
            reason_ja=self.prefix + reason_ja,
            event_id=self.event.event_id,
            drill=self.event.status is not EventStatus.NORMAL,
            decided_at=self.now,
            **fields,
        )


@dataclass
class _Assessment:
    threshold_ja: str
    above: dict[str, int]
    """Reached the threshold."""
    met: dict[str, int]
    """... and have patients."""
    fresh: dict[str, int]
    """... and no recent event of the same hazard was as strong there."""
    stronger: set[str]
    """Those of `fresh` that a recent event covered, but more weakly."""
    pending_cover: PriorEvent | None
    """Another event's round, still pending, that covers some of `met`: the one to widen."""
    excluded: dict[str, str]
    not_before: datetime


def _assess(
    event: TriggerEvent,
    config: GuardConfig,
    patients: set[str] | frozenset[str],
    priors: list[PriorEvent],
    now: datetime,
) -> _Assessment:
    threshold = config.threshold(event.hazard)
    excluded: dict[str, str] = {}
    above: dict[str, int] = {}
    for code, rank in event.municipality_severity.items():
        if rank >= threshold:
            above[code] = rank
        else:
            excluded[code] = "below_threshold"
    met = {code: rank for code, rank in above.items() if code in patients}
    excluded.update({code: "no_registered_patients" for code in above if code not in met})
    fresh, stronger, pending_cover = _outside_recent_events(event, met, priors, config, now, excluded)
    return _Assessment(
        threshold_ja=f"{severity_label(event.hazard, threshold)}以上",
        above=above,
        met=met,
        fresh=fresh,
        stronger=stronger,
        pending_cover=pending_cover,
        excluded=excluded,
        not_before=now + timedelta(seconds=config.delay_seconds),
    )


def _on_cancel(
    say: _Say,
    event: TriggerEvent,
    pending: list[PriorEvent],
    started: list[PriorEvent],
    merged_pending: list[PriorEvent],
) -> Decision:
    """``pending``/``started``: this event's own rounds and those it was merged into; ``merged_pending``:
    pending rounds of other events that this one widened or upgraded."""
    targets = pending or merged_pending
    if targets:
        target = targets[-1]
        note = "（一部は既に送信を開始しており、その分は中止できません）" if started else ""
        remaining = {event_id: levels for event_id, levels in target.sources().items() if event_id != event.event_id}
        if remaining:
            # What the other events justify stays due; only what this one added or raised goes.
            return _update_pending(
                say,
                "cancelled_event_withdrawn",
                f"取消報を受信したため、送信待ちの安否確認（{_at(target.not_before)}送信予定）から、この事象で追加・"
                f"強化された分を取り除きます（残る対象: {_names(set(combine(remaining)))}）{note}。",
                remaining,
                target.not_before,
                target,
                {},
            )
        return say(
            "cancel_pending",
            "cancelled_before_send",
            f"取消報を受信したため、送信前の安否確認（{_at(target.not_before)}送信予定）を中止します{note}。",
            municipalities=tuple(sorted(target.municipalities)),
            target_round_id=target.round_id,
        )
    if started:
        merged_only = all(p.event_id != event.event_id for p in started)
        return say(
            "ignore",
            "cancel_too_late",
            (
                "取消報を受信しましたが、この事象を統合した安否確認は既に送信を開始しているため、取り消せません。"
                if merged_only
                else "取消報を受信しましたが、安否確認は既に送信を開始しているため中止できません。"
            )
            + "対象者への訂正の連絡を検討してください。",
            target_round_id=started[-1].round_id,
        )
    return say(
        "ignore",
        "cancel_without_round",
        "取消報を受信しました。この事象による安否確認は予約も開始もされていないため、対応は不要です。",
    )


def _on_same_event(
    say: _Say,
    event: TriggerEvent,
    found: _Assessment,
    pending: list[PriorEvent],
    started: list[PriorEvent],
) -> Decision:
    fresh, excluded = found.fresh, found.excluded
    if pending and event.info_type is InfoType.CORRECTION:
        target = pending[-1]
        others = {event_id: levels for event_id, levels in target.sources().items() if event_id != event.event_id}
        when = target.not_before or found.not_before
        if not fresh and not others:
            return say(
                "cancel_pending",
                "correction_below_threshold" if not found.met else _not_stronger_code(event),
                f"訂正報により対象となる市町村がなくなったため（基準: {found.threshold_ja}）、"
                "送信待ちの安否確認を中止します。",
                target_round_id=target.round_id,
                excluded=excluded,
            )
        corrected = {**others, event.event_id: fresh} if fresh else others
        return _update_pending(
            say,
            "correction_updates_pending",
            f"訂正報を受けて、送信待ちの安否確認の対象を{_names(set(combine(corrected)))}に更新します"
            f"（{_at(when)}送信予定）。",
            corrected,
            when,
            target,
            excluded,
        )

    covered = frozenset().union(*(p.municipalities for p in pending + started))
    added = {code: rank for code, rank in fresh.items() if code not in covered}
    if not added:
        state_ja = "送信待ち" if pending else "開始済み"
        return say(
            "ignore",
            "duplicate_event",
            f"同じ事象（EventID {event.event_id}）の安否確認は既に{state_ja}のため、新たには開始しません。",
            excluded=excluded,
        )
    reached = f"同じ事象の続報で{_names(added)}が新たに基準（{found.threshold_ja}）に達したため、"
    if pending:
        target = pending[-1]
        sources = target.sources()
        sources[event.event_id] = {**sources.get(event.event_id, {}), **added}
        when = target.not_before or found.not_before
        return _update_pending(
            say,
            "event_extended",
            f"{reached}送信待ちの安否確認に追加します（{_at(when)}送信予定）。",
            sources,
            when,
            target,
            excluded,
        )
    return say(
        "schedule_round",
        "event_extended",
        f"{reached}これらの市町村の安否確認を{_at(found.not_before)}に開始します。",
        municipalities=tuple(sorted(added)),
        severity=max(added.values()),
        municipality_severity=added,
        not_before=found.not_before,
        excluded=excluded,
    )


def _on_new_event(say: _Say, event: TriggerEvent, config: GuardConfig, found: _Assessment) -> Decision:
    excluded = found.excluded
    if not event.municipality_severity:
        return say(
            "ignore",
            "no_matching_municipalities",
            "この情報には登録されている市町村が含まれないため、安否確認は開始しません。",
        )
    if not found.above:
        return say(
            "ignore",
            "below_threshold",
            f"最大{severity_label(event.hazard, event.local_severity)}で、基準（{found.threshold_ja}）に"
            "達していないため、安否確認は開始しません。",
            excluded=excluded,
        )
    if not found.met:
        return say(
            "ignore",
            "no_registered_patients",
            f"{_names(found.above)}で基準（{found.threshold_ja}）に達しましたが、患者が登録されていないため、"
            "安否確認は開始しません。",
            excluded=excluded,
        )
    fresh = found.fresh
    if not fresh:
        subject = "同じ地域の地震" if event.hazard is Hazard.EARTHQUAKE else "同じ地域の同種の災害"
        return say(
            "ignore",
            _not_stronger_code(event),
            f"{config.aftershock_window_hours:g}時間以内に{subject}で安否確認を実施済み（または送信待ち）で、"
            "今回はそれより強くないため、新たな安否確認は開始しません。",
            excluded=excluded,
        )
    if found.pending_cover is not None:
        return _merge_into_pending(say, event, found)
    severity = max(fresh.values())
    peak = "最大" if len(fresh) > 1 else ""
    detail = f"{_names(fresh)}で{peak}{severity_label(event.hazard, severity)}（基準: {found.threshold_ja}）"
    when = _at(found.not_before)
    if found.stronger:
        reason = "stronger_aftershock" if event.hazard is Hazard.EARTHQUAKE else "stronger_than_recent_event"
        text = f"{detail}。直近の事象より強いため、{when}に新たな安否確認を開始します。"
    else:
        reason = "threshold_met"
        text = f"{detail}。訂正・取消がなければ{when}に安否確認を開始します。"
    return say(
        "schedule_round",
        reason,
        text,
        municipalities=tuple(sorted(fresh)),
        severity=severity,
        municipality_severity=fresh,
        not_before=found.not_before,
        excluded=excluded,
    )


def _merge_into_pending(say: _Say, event: TriggerEvent, found: _Assessment) -> Decision:
    """Widen or upgrade another event's pending round: its people are messaged once, at its time."""
    target = found.pending_cover
    assert target is not None
    sources = target.sources()
    # Kept apart per event, so that a later cancellation of this one takes back only what it brought.
    sources[event.event_id] = combine({"before": sources.get(event.event_id, {}), "now": found.fresh})
    when = target.not_before or found.not_before
    added = sorted(code for code in found.fresh if code not in target.municipalities)
    upgraded = sorted(found.stronger & target.municipalities)
    parts = []
    if upgraded:
        parts.append(f"{_names(set(upgraded))}でより強い揺れ・警報を観測")
    if added:
        parts.append(f"{_names(set(added))}を対象に追加")
    subject = "余震" if event.hazard is Hazard.EARTHQUAKE else "続く事象"
    return _update_pending(
        say,
        "merged_into_pending",
        f"送信待ちの安否確認（{_at(when)}送信予定）がある間の{subject}のため、新たな安否確認は開始せず、"
        f"送信待ちの安否確認を更新します（{'、'.join(parts) or '対象の強さを更新'}）。",
        sources,
        when,
        target,
        found.excluded,
    )


def _update_pending(
    say: _Say,
    reason: str,
    reason_ja: str,
    sources: dict[str, dict[str, int]],
    when: datetime | None,
    target: PriorEvent,
    excluded,
) -> Decision:
    """The pending round of ``target`` is now justified by ``sources`` (event id -> municipality -> severity)."""
    severities = combine(sources)
    return say(
        "update_pending",
        reason,
        reason_ja,
        municipalities=tuple(sorted(severities)),
        severity=max(severities.values()),
        municipality_severity=severities,
        not_before=when,
        target_round_id=target.round_id,
        excluded=excluded,
        contributions=sources,
    )


def _outside_recent_events(
    event: TriggerEvent,
    met: dict[str, int],
    priors: list[PriorEvent],
    config: GuardConfig,
    now: datetime,
    excluded: dict[str, str],
) -> tuple[dict[str, int], set[str], PriorEvent | None]:
    """Split `met` into municipalities that still count and those a recent event covers.

    Also returns the latest pending round of another event that covers any of `met`.
    """
    window_start = now - timedelta(hours=config.aftershock_window_hours)
    notice = is_notice(event.event_id)
    recent = [
        p
        for p in priors
        if p.event_id != event.event_id
        and p.hazard is event.hazard
        # Advance notices and safety checks never hold each other back (notice before, check during).
        and is_notice(p.event_id) == notice
        and p.state in _LIVE
        and p.first_seen_at >= window_start
    ]
    fresh: dict[str, int] = {}
    stronger: set[str] = set()
    for code, rank in met.items():
        covering = [p.severity_in(code) for p in recent if code in p.municipalities]
        if not covering:
            fresh[code] = rank
        elif rank > max(covering):
            fresh[code] = rank
            stronger.add(code)
        else:
            excluded[code] = _not_stronger_code(event)
    pending = [p for p in recent if p.state == "pending" and p.municipalities & met.keys()]
    cover = max(pending, key=lambda p: p.first_seen_at) if pending and fresh else None
    return fresh, stronger, cover


NOTICE_PREFIX = "notice:"


def is_notice(event_id: str) -> bool:
    """An advance-notice event: the advisory stage of a warning feed (service.notice_event)."""
    return event_id.startswith(NOTICE_PREFIX)


def _not_stronger_code(event: TriggerEvent) -> str:
    return "aftershock_not_stronger" if event.hazard is Hazard.EARTHQUAKE else "recent_event_not_stronger"


def _names(codes: dict[str, int] | set[str] | frozenset[str], limit: int = 5) -> str:
    names = [municipality_name(code) for code in sorted(codes)]
    if len(names) <= limit:
        return "、".join(names)
    return "、".join(names[:limit]) + f"ほか{len(names) - limit}市町村"


def _at(moment: datetime | None) -> str:
    if moment is None:
        return "予定時刻"
    return local(moment).strftime("%H:%M")
