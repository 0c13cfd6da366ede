"""All table models, imported together so Alembic and the metadata see every table."""

from bcp_service.models import board as _board_indexes  # noqa: F401  (indexes on the rounds tables)
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
    "ApiToken",
    "AuditEvent",
    "AuditEventPatient",
    "BcpDraft",
    "BcpPlan",
    "CheckAnswer",
    "CheckEvent",
    "ContactAddress",
    "Designation",
    "DesignationRule",
    "EarlyStatus",
    "HealthProbe",
    "HomeCareRegion",
    "HomeCareRegionMunicipality",
    "HubMunicipality",
    "Incident",
    "Institution",
    "InstitutionContact",
    "JmaFeed",
    "JmaFeedEntry",
    "LocalMedicalAssociation",
    "LoginThrottle",
    "Municipality",
    "OutboxMessage",
    "Patient",
    "PatientContact",
    "PowerOutage",
    "Prefecture",
    "PublicHealthCenterDistrict",
    "RecoveryCode",
    "RegionChange",
    "RoundCounter",
    "RoundRestore",
    "RoundSchedule",
    "SafetyCheck",
    "SafetyRound",
    "ScheduleFiring",
    "SecondaryMedicalArea",
    "SendLanePause",
    "SendRate",
    "ServiceHeartbeat",
    "TriggerDecision",
    "TriggerRecord",
    "TriggerReport",
    "UnmatchedReply",
    "User",
    "WebSession",
]
