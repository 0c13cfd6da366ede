"""Japanese labels of the codes the registry stores for a patient (sex, devices, status, contacts, risk tier).

The CSV columns (``imports.columns``: written on export, accepted on import beside the codes) and
the registry's patient form (``registry.page_forms``) both show them; they live here, below both.
"""

from bcp_service.channels import CHANNELS
from bcp_service.labels import CONTACT_KIND_LABELS, PLANNED_STAY_LABELS, TIER_LABELS

SEX = {"male": "男性", "female": "女性", "other": "その他", "unknown": "不明"}
VENTILATOR_MODE = {"invasive": "侵襲 (TPPV)", "non_invasive": "非侵襲 (NPPV)"}
OXYGEN_SOURCE = {"concentrator": "酸素濃縮装置", "liquid": "液体酸素", "cylinders": "酸素ボンベ"}
# The patient's status in the register (moved, admitted, deceased), not a check state.
STATUS = {"active": "在宅", "moved": "転居", "admitted": "入院", "deceased": "死亡"}
CONTACT_KIND = CONTACT_KIND_LABELS
CHANNEL = {name: channel.label for name, channel in CHANNELS.items()}  # a contact's preferred channel
RISK_TIER = TIER_LABELS

# The coded fields of a patient, for the audit log's "what changed" (``audit.changes.diff``).
PATIENT_CODES = {
    "sex": SEX,
    "ventilator_mode": VENTILATOR_MODE,
    "oxygen_source": OXYGEN_SOURCE,
    "status": STATUS,
    "risk_tier": RISK_TIER,
    "planned_stay": PLANNED_STAY_LABELS,
}
