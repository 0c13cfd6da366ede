"""All table models, imported together so Alembic and the metadata see every table."""

from bcp_service.models import board as _board_indexes  # noqa: E402,F401  (indexes on the rounds tables)
from bcp_service.models.audit import AuditEvent, AuditEventPatient
from bcp_service.models.auth import ApiToken, LoginThrottle, RecoveryCode, User, WebSession
from bcp_service.models.bcp import BcpDraft, BcpPlan
from bcp_service.models.escalation import CheckEvent
from bcp_service.models.feeds import JmaFeed, JmaFeedEntry
from bcp_service.models.geo import (
    HomeCareRegion,
    HomeCareRegionMunicipality,
    LocalMedicalAssociation,
    Municipality,
    Prefecture,
    PublicHealthCenterDistrict,
    RegionChange,
    SecondaryMedicalArea,
)
from bcp_service.models.heartbeat import ServiceHeartbeat
from bcp_service.models.institution import (
    Designation,
    DesignationRule,
    HubMunicipality,
    Institution,
    InstitutionContact,
)
from bcp_service.models.ops import HealthProbe, RoundRestore  # ops: health probe, restore record
from bcp_service.models.outages import PowerOutage
from bcp_service.models.outbox import EarlyStatus, OutboxMessage, SendLanePause, SendRate
from bcp_service.models.patient import ContactAddress, Patient, PatientContact
from bcp_service.models.rounds import CheckAnswer, Incident, RoundCounter, SafetyCheck, SafetyRound, UnmatchedReply
from bcp_service.models.schedules import RoundSchedule, ScheduleFiring
from bcp_service.models.triggers import TriggerDecision, TriggerRecord, TriggerReport

__all__ = [
    "RegionChange",
    "ContactAddress",
    "HealthProbe",
    "RoundRestore",
    "PowerOutage",
    "JmaFeed",
    "JmaFeedEntry",
    "CheckEvent",
    "RoundSchedule",
    "ScheduleFiring",
    "ServiceHeartbeat",
    "TriggerDecision",
    "TriggerRecord",
    "TriggerReport",
    "BcpDraft",
    "BcpPlan",
    "CheckAnswer",
    "EarlyStatus",
    "OutboxMessage",
    "RoundCounter",
    "SafetyCheck",
    "SafetyRound",
    "SendRate",
    "SendLanePause",
    "UnmatchedReply",
    "Incident",
    "ApiToken",
    "AuditEvent",
    "AuditEventPatient",
    "LoginThrottle",
    "User",
    "WebSession",
    "RecoveryCode",
    "Designation",
    "DesignationRule",
    "HomeCareRegion",
    "HomeCareRegionMunicipality",
    "HubMunicipality",
    "Institution",
    "InstitutionContact",
    "LocalMedicalAssociation",
    "Municipality",
    "Patient",
    "PatientContact",
    "Prefecture",
    "PublicHealthCenterDistrict",
    "SecondaryMedicalArea",
]
