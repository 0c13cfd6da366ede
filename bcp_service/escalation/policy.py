"""The escalation policy of a round: what happens, and when, to a check nobody has answered.

Stored as ``{"steps": [{"after_minutes": 15, "action": "resend"}, ...]}`` on the round
(``SafetyRound.escalation_policy``) or a schedule; the settings hold the default. Minutes count
from the start of the round, so every check of a round moves through the steps together.
"""

from __future__ import annotations

import itertools
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class EscalationAction(StrEnum):
    resend = "resend"  # the first message again, to the same contact
    family = "family"  # the family and carer contacts, in the register's order
    call = "call"  # a voice call with a keypad answer
    unreachable = "unreachable"  # give up: the check goes to the nurses' follow-up queue


class EscalationStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    after_minutes: float = Field(gt=0, le=7 * 24 * 60, description="minutes after the round started")
    action: EscalationAction


class EscalationPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: tuple[EscalationStep, ...] = Field(default=(), max_length=12)

    @model_validator(mode="after")
    def _ordered(self) -> EscalationPolicy:
        times = [step.after_minutes for step in self.steps]
        if any(later <= earlier for earlier, later in itertools.pairwise(times)):
            raise ValueError("after_minutes must increase from step to step")
        actions = [step.action for step in self.steps]
        if EscalationAction.unreachable in actions[:-1]:
            raise ValueError("unreachable ends the escalation; it can only be the last step")
        return self

    def step(self, index: int) -> EscalationStep | None:
        return self.steps[index] if 0 <= index < len(self.steps) else None


TIERS = ("critical", "high", "standard")


NOTICE_KIND = "advance_notice"
QUIET_ACTIONS = frozenset({EscalationAction.family, EscalationAction.call})  # they reach families or ring


def tier_policies(
    stored: dict | list | None, settings, kind: str = "safety_check"
) -> dict[str | None, EscalationPolicy]:
    """The policy per risk tier: the round's own for every tier (key None), else for an advance notice
    the settings' notice ladder for every tier, else the settings' per tier."""
    if stored is not None:
        return {None: resolve_policy(stored, settings.escalation_steps)}
    if kind == NOTICE_KIND:
        return {None: resolve_policy(settings.notice_escalation_steps, settings.escalation_steps)}
    return {
        tier: resolve_policy(None, settings.escalation_tier_steps.get(tier, settings.escalation_steps))
        for tier in TIERS
    }


def policy_for(stored: dict | list | None, settings, tier: str | None, kind: str = "safety_check") -> EscalationPolicy:
    policies = tier_policies(stored, settings, kind)
    return policies.get(None) or policies.get(tier) or resolve_policy(None, settings.escalation_steps)


def resolve_policy(stored: dict | list | None, default_steps: list[dict] | tuple[dict, ...]) -> EscalationPolicy:
    """The round's own policy when it has one, else the settings' default."""
    if stored is None:
        return EscalationPolicy.model_validate({"steps": list(default_steps)})
    if isinstance(stored, list):
        return EscalationPolicy.model_validate({"steps": stored})
    return EscalationPolicy.model_validate(stored)
