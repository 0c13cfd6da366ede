"""A draft as one reader may see it: only the patients inside the reader's patient scope.

A draft is rendered once, for its institution, and names that institution's patients and (for an
active institution) the ventilator users of its area. A hub or prefecture officer whose scope does
not include some of them gets a copy rendered again from the stored context without them, with a
line saying how many were left out; the audit event then names only the patients shown.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from bcp_service.auth.principal import Principal, patient_scope
from bcp_service.auth.roles import Role
from bcp_service.bcp.context import BcpContext
from bcp_service.bcp.render import render_draft
from bcp_service.models import BcpDraft, Patient


def left_out_note(count: int) -> str:
    """The screen note for patients left out; the preview page shows it above the document."""
    return f"担当範囲外の患者 {count} 名は、この表示から除いています（閲覧者の担当範囲に含まれないため）。"


def _without_traces(context: BcpContext, *, kept: list, dropped: list) -> dict:
    """The backup hospitals and suppliers only left-out patients named leave with them (issue 23): their
    names would otherwise tell the reader about patients it may not see."""

    def only_theirs(field: str) -> set[str]:
        def named(patients) -> set[str]:
            return {(getattr(p, field) or "").strip() for p in patients} - {""}

        return named(dropped) - named(kept)

    hospitals, suppliers = only_theirs("backup_hospital"), only_theirs("supplier")
    return {
        "backup_hospitals": [b for b in context.backup_hospitals if b.name.strip() not in hospitals],
        "suppliers": [s for s in context.suppliers if s.name.strip() not in suppliers],
    }


def for_reader(*, session: Session, principal: Principal, draft: BcpDraft) -> tuple[BcpDraft, int]:
    """(the draft to show, how many patients were left out). The copy is never added to the session."""
    ids = list(draft.patient_ids or [])
    if not ids or principal.role == Role.admin:
        return draft, 0
    visible = set(session.exec(select(Patient.id).where(col(Patient.id).in_(ids), *patient_scope(principal))).all())
    if visible >= set(ids):
        return draft, 0
    context = BcpContext.model_validate(draft.context)
    own = len(context.patients)
    kept_own = [p for p, i in zip(context.patients, ids[:own], strict=False) if i in visible]
    kept_area = [p for p, i in zip(context.area_ventilator_patients, ids[own:], strict=False) if i in visible]
    kept_ids = [i for i in ids[:own] if i in visible] + [i for i in ids[own:] if i in visible]
    dropped = [p for p in (*context.patients, *context.area_ventilator_patients) if p not in (*kept_own, *kept_area)]
    context = context.model_copy(
        update={
            "patients": kept_own,
            "area_ventilator_patients": kept_area,
            **_without_traces(context, kept=[*kept_own, *kept_area], dropped=dropped),
        }
    )
    rendered = render_draft(context)
    left_out = len(set(ids) - visible)
    copy = BcpDraft(
        **{
            **draft.model_dump(exclude={"html", "blanks", "sections", "patient_ids", "patient_count", "context"}),
            "html": rendered.html,
            "blanks": [b.model_dump() for b in rendered.blanks],
            "sections": [s.model_dump(include={"section", "filled", "total"}) for s in rendered.sections],
            "patient_ids": kept_ids,
            "patient_count": len(kept_own),
            "context": context.model_dump(mode="json"),
        }
    )
    return copy, left_out
