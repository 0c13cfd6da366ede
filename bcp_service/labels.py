"""Japanese display labels of stored codes that pages in several packages show (risk tier, therapy,
answer channel, who answered). Check states have theirs in ``check_states.py``.

Neutral (docs/architecture.md): the board, round, schedule, review and nurse pages all read them
here, so none of those packages imports another for a label.
"""

from bcp_service import check_states as states

# The one set of tier labels (pages, CSV, BCP drafts): the words of the BCP texts ("最優先の患者は…").
TIER_LABELS = {"critical": "最優先", "high": "優先", "standard": "通常"}
THERAPY_LABELS = {"ventilator": "人工呼吸器", "oxygen": "在宅酸素", "suction": "吸引器", "child": "医療的ケア児"}
CHANNEL_LABELS = {"link": "リンク", "sms": "SMS", "voice": "音声", "nurse": "看護師"}
# The one table of contact kinds (models.enums.ContactKind): the registry's forms and CSV, the nurse page,
# the board and the audit log read it; tests/test_contact_kinds.py fails on a copy or a kind without a label.
CONTACT_KIND_LABELS = {"self": "本人", "family": "家族", "carer": "支援者"}
# Who answered: a nurse (visit, phone) or one of the patient's contacts (by kind).
ANSWERED_BY_LABELS = {"nurse_visit": "訪問", "nurse_phone": "電話", **CONTACT_KIND_LABELS}
# Hazards (triggers.events.Hazard, round.hazard, incident.hazards): the triggers page and incidents read this one
# table; tests/test_labels.py fails when a Hazard has no label here.
HAZARD_LABELS = {
    "earthquake": "地震",
    "tsunami": "津波",
    "heavy_rain": "大雨",
    "typhoon": "台風",
    "flood": "洪水",
    "landslide": "土砂災害",
    "storm_surge": "高潮",
    "blackout": "停電",
    "other": "その他",
}
# Escalation steps (escalation.policy.EscalationAction) and the other CheckEvent actions on a check's timeline:
# the round page, the timeline, the escalation CSV read this one table; tests/test_labels.py fails when an
# action has no label here or a module writes its own.
ESCALATION_ACTION_LABELS = {
    "resend": "再送",
    "family": "家族へ連絡",
    "call": "音声電話",
    "unreachable": f"{states.label('unreachable')}（看護師へ）",
    "assign": "看護師に割り当て",
    "page": "当番電話へ呼び出し（重症・連絡不能）",  # oncall (issue 25.4): escalation/oncall.py
}
# Where a person said, in an advance-notice round (事前連絡), they will stay (patient.planned_stay).
PLANNED_STAY_LABELS = {"home": "自宅", "shelter": "避難所", "relative": "親戚・知人宅等", "hospital": "入院・入所"}
# ... and the same choices as the person makes them (answer page buttons, voice keypad).
PLANNED_STAY_ANSWERS = {
    "home": "自宅で過ごします（備えはできています）",
    "shelter": "避難所に移ります",
    "relative": "親戚・知人宅などに移ります",
    "hospital": "入院・入所します",
}


def planned_stay_text(plan: str | None, place: str | None) -> str:
    """「避難所（〇〇小学校）」: what the board, the CSV, the nurse page and the BCP show; "" when none."""
    if not plan:
        return ""
    label = PLANNED_STAY_LABELS.get(plan, plan)
    return f"{label}（{place}）" if place else label
