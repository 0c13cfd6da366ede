"""Japanese display labels of stored codes that pages in several packages show (risk tier, therapy,
answer channel, who answered). Check states have theirs in ``check_states.py``.

Neutral (docs/architecture.md): the board, round, schedule, review and nurse pages all read them
here, so none of those packages imports another for a label.
"""

# The one set of tier labels (pages, CSV, BCP drafts): the words of the BCP texts ("最優先の患者は…").
TIER_LABELS = {"critical": "最優先", "high": "優先", "standard": "通常"}
THERAPY_LABELS = {"ventilator": "人工呼吸器", "oxygen": "在宅酸素", "suction": "吸引器", "child": "医療的ケア児"}
CHANNEL_LABELS = {"link": "リンク", "sms": "SMS", "voice": "音声", "nurse": "看護師"}
ANSWERED_BY_LABELS = {"nurse_visit": "訪問", "nurse_phone": "電話", "self": "本人", "family": "家族", "carer": "支援者"}
