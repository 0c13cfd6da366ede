"""Nurses also see the patients assigned to them in an open round (``create_app`` registers it with ``auth.assignments``)."""

from __future__ import annotations

from sqlalchemy import ColumnElement
from sqlmodel import col, select

from bcp_service.models import Patient, SafetyCheck, SafetyRound
from bcp_service.models.rounds import RoundState


def assigned_in_open_round(principal) -> ColumnElement[bool]:
    assigned = (
        select(SafetyCheck.patient_id)
        .join(SafetyRound, SafetyRound.id == SafetyCheck.round_id)
        .where(SafetyCheck.assigned_user_id == principal.user_id, SafetyRound.state == RoundState.running)
    )
    return col(Patient.id).in_(assigned)
