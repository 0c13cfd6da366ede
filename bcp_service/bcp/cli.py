"""``bcp-service bcp draft``: write an institution's draft to a .docx from the command line.

The document names patients, so the export is recorded in the audit log like any other read
(with no user: the operator of the machine ran it).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from bcp_service.audit.service import record
from bcp_service.bcp import service
from bcp_service.bcp.builder import build
from bcp_service.bcp.context import PLAN_KIND_LABELS
from bcp_service.bcp.docx_writer import html_to_docx
from bcp_service.bcp.render import render_draft
from bcp_service.config import get_settings
from bcp_service.db import make_engine, make_session_factory
from bcp_service.errors import ServiceError
from bcp_service.models import Institution

app = typer.Typer(help="BCP草案 (business continuity plan drafts)", no_args_is_help=True)
console = Console()


@app.command("draft")
def draft(
    institution_id: int = typer.Argument(..., help="registry id of the institution"),
    out: Path = typer.Option(..., "--out", help="the .docx to write"),
    plan_kind: str | None = typer.Option(None, help="、".join(PLAN_KIND_LABELS) + " (default: from the institution)"),
    html: Path | None = typer.Option(None, help="also write the HTML preview here"),
    save: bool = typer.Option(False, "--save", help="store it as the institution's next version"),
) -> None:
    """Generate a BCP draft from the registry and write it as Word (.docx)."""
    if plan_kind is not None and plan_kind not in PLAN_KIND_LABELS:
        raise typer.BadParameter(f"choose one of {', '.join(PLAN_KIND_LABELS)}", param_hint="--plan-kind")
    factory = make_session_factory(make_engine(get_settings().database_url))
    with factory() as session:
        institution = session.get(Institution, institution_id)
        if institution is None:
            raise typer.BadParameter("施設が見つかりません (institution not found)", param_hint="INSTITUTION_ID")
        try:
            if save:
                stored = service.generate_draft(
                    session=session, principal=None, institution=institution, plan_kind=plan_kind
                )  # type: ignore[arg-type]
                title, body, data = stored.title, stored.html, service.render_docx(stored)
                patient_ids, completeness, blanks = stored.patient_ids, stored.completeness, stored.blank_count
                label = f"第{stored.version}版 (draft id {stored.id})"
            else:
                built = build(session=session, institution_id=institution_id, plan_kind=plan_kind)  # type: ignore[arg-type]
                rendered = render_draft(built.context)
                title, body = rendered.title, rendered.html
                data = html_to_docx(body, title=title, created=built.context.generated_at)
                patient_ids, completeness, blanks = (
                    built.patient_ids,
                    rendered.overall_completeness,
                    len(rendered.blanks),
                )
                label = "not stored"
        except ServiceError as exc:
            console.print(f"[red]{exc.message}[/red]")
            raise typer.Exit(1) from exc
        record(
            session=session,
            principal=None,
            action="bcp_draft.cli_export",
            patient_ids=patient_ids,
            resource="cli: bcp draft",
            detail=f"institution:{institution_id}",
        )
        session.commit()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(body, encoding="utf-8")
    console.print(
        f"[green]{out}[/green] {title} — {label}, 記入率 {completeness:.0%}, 未記入 {blanks}項目, 患者 {len(patient_ids)}名"
    )
