"""The round report: one CSV row per check, with its whole answer history and escalation steps.

Read in batches of checks (keyset on the check id) so a 200,000-check round streams in constant
memory. Times are Japan time; cells go through ``csv_export`` (BOM, formula neutralising).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from bcp_service import check_states as states
from bcp_service.labels import ESCALATION_ACTION_LABELS
from bcp_service.models import CheckAnswer, CheckEvent, Municipality, OutboxMessage, Patient, SafetyCheck, SafetyRound
from bcp_service.rounds.messages import STATE_LABELS
from bcp_service.templating import jst

BATCH = 2000
HEADER = [
    "安否確認ID",
    "訓練",
    "対象ID",
    "患者ID",
    "氏名",
    "リスク",
    "市町村コード",
    "市町村",
    "状態",
    "残り時間",
    "最終回答",
    "最終経路",
    "回答数",
    "回答履歴",
    "段階",
    "エスカレーション履歴",
    "送信数",
    "担当者ID",
    "電気",
    "残り時間不明",
    "搬送希望",
    "入院希望",
    "避難先",
    "メモ",
]
POWER = states.POWER_LABELS


def list_patient_ids(*, session: Session, round_id: int, scope: list[ColumnElement[bool]]) -> list[int]:
    return list(
        session.exec(
            select(SafetyCheck.patient_id)
            .join(Patient, Patient.id == SafetyCheck.patient_id)
            .where(SafetyCheck.round_id == round_id, *scope)
        ).all()
    )


def iter_report_rows(
    *, session: Session, safety_round: SafetyRound, scope: list[ColumnElement[bool]]
) -> Iterator[list]:
    drill = "訓練" if safety_round.drill else ""
    last_id = 0
    while True:
        batch = session.exec(
            select(SafetyCheck, Patient.name, Municipality.code, Municipality.name)
            .join(Patient, Patient.id == SafetyCheck.patient_id)
            .join(Municipality, Municipality.id == SafetyCheck.municipality_id)
            .where(SafetyCheck.round_id == safety_round.id, SafetyCheck.id > last_id, *scope)
            .order_by(SafetyCheck.id)
            .limit(BATCH)
        ).all()
        if not batch:
            return
        ids = [check.id for check, *_ in batch]
        answers, events, sent = _history(session, ids)
        for check, name, code, municipality in batch:
            history = answers.get(check.id, [])
            yield [
                safety_round.id,
                drill,
                check.id,
                check.patient_id,
                name,
                check.risk_tier,
                code,
                municipality,
                STATE_LABELS.get(check.state, check.state),
                "" if check.hours_left is None else check.hours_left,
                jst(check.last_answer_at),
                check.last_channel or "",
                len(history),
                " / ".join(history),
                check.escalation_step,
                " / ".join(events.get(check.id, [])),
                sent.get(check.id, 0),
                check.assigned_user_id or "",
                POWER.get(check.power or "", ""),
                "不明" if check.hours_unknown else "",
                "あり" if check.needs_transport else "",
                "あり" if check.needs_admission else "",
                check.evacuated_to or "",
                check.note or "",
            ]
        last_id = ids[-1]


def _history(session: Session, ids: list[int]) -> tuple[dict[int, list[str]], dict[int, list[str]], dict[int, int]]:
    answers: dict[int, list[str]] = defaultdict(list)
    for answer in session.exec(
        select(CheckAnswer).where(col(CheckAnswer.check_id).in_(ids)).order_by(CheckAnswer.observed_at, CheckAnswer.id)
    ).all():
        hours = f" 残り{answer.hours_left:g}時間" if answer.hours_left is not None else ""
        who = f"/{answer.answered_by}" if answer.answered_by else ""
        answers[answer.check_id].append(
            f"{jst(answer.observed_at)} {STATE_LABELS.get(answer.state, answer.state)}{hours} ({answer.channel}{who})"
        )
    events: dict[int, list[str]] = defaultdict(list)
    for event in session.exec(
        select(CheckEvent).where(col(CheckEvent.check_id).in_(ids)).order_by(CheckEvent.at, CheckEvent.id)
    ).all():
        what = ESCALATION_ACTION_LABELS.get(event.action, event.action)
        if event.kind == "escalation":
            events[event.check_id].append(
                f"{jst(event.at)} {event.step}.{what}" + (f" ({event.detail})" if event.detail else "")
            )
        else:
            events[event.check_id].append(f"{jst(event.at)} {what}:{event.user_id or '解除'}")
    sent = dict(
        session.exec(
            select(OutboxMessage.check_id, func.count())
            .where(col(OutboxMessage.check_id).in_(ids))
            .group_by(OutboxMessage.check_id)
        ).all()
    )
    return answers, events, sent
