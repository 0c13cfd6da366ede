"""Contexts for tests: bare (name and kind only) and complete (nothing left for the registry)."""

from __future__ import annotations

import typing
from datetime import date

from pydantic import BaseModel

from bcp_service.bcp.context import BcpContext, Facility, PlanKind
from bcp_service.bcp.example import example_context
from bcp_service.bcp.render import render_draft


def bare_context(plan_kind: PlanKind, name: str = "テスト診療所") -> BcpContext:
    return BcpContext(plan_kind=plan_kind, facility=Facility(name=name, kind_label="診療所"))


def _value_for(annotation: object) -> object:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    target = args[0] if args else annotation
    if typing.get_origin(target) is list:
        (item,) = typing.get_args(target)
        return None if isinstance(item, type) and issubclass(item, BaseModel) else ["記入済み"]
    if isinstance(target, type) and issubclass(target, BaseModel):
        return None  # whole optional sections are filled by the caller where they matter
    return {bool: True, int: 1, float: 1.5, str: "記入済み", date: date(2025, 1, 1)}.get(target)


def _fill(model: BaseModel) -> BaseModel:
    """Replace every None field (recursively) with a plausible value of its type."""
    update: dict[str, object] = {}
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            update[name] = _fill(value)
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            update[name] = [_fill(v) for v in value]
        elif value is None:
            filled = _value_for(info.annotation)
            if filled is not None:
                update[name] = filled
    return model.model_copy(update=update)


def complete_context(plan_kind: PlanKind) -> BcpContext:
    """The example with every registry gap filled and every local question answered."""
    context = _fill(example_context(plan_kind))
    assert isinstance(context, BcpContext)
    asked = {b.label for b in render_draft(context).blanks if b.kind == "local"}
    facts = dict(context.local_facts) | dict.fromkeys(asked, "記入済み")
    return context.model_copy(update={"local_facts": facts})
