"""Finished plans: an institution marks its plan finished by uploading the file it adopted.

A draft is the service's starting point; the plan is what the institution wrote from it, in Word or
as a PDF. Each upload is a new version (the history stays); the newest is the plan in force, and
``coverage`` counts an institution with one as having a finished plan, apart from drafts.

The file's type is read from its first bytes, never from its name: a PDF starts with ``%PDF-``, a
.docx is a ZIP holding ``word/document.xml``. Anything else, an empty file or one over
``settings.plan_max_bytes`` is refused with a Japanese reason and nothing is written. A plan
names patients (its call list), so the upload and every download are audited.
"""

from __future__ import annotations

import hashlib
import io
import logging
import unicodedata
import zipfile
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import func
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from bcp_service.audit.service import record
from bcp_service.auth.principal import Principal
from bcp_service.bcp.service import get_institution_in_scope, institution_scope
from bcp_service.errors import FieldError, NotFound
from bcp_service.models import BcpDraft, BcpPlan, Institution

log = logging.getLogger(__name__)
PLAN_NOT_FOUND = "完成した計画が見つかりません (plan not found)"
MEDIA_TYPES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}
TYPE_LABELS = {"docx": "Word（.docx）", "pdf": "PDF"}
MAX_NOTE_CHARS = 1000


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


def sniff(data: bytes) -> str | None:
    """``"pdf"``, ``"docx"`` or None, from the content alone."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, ValueError, OSError):
            return None
        if "word/document.xml" in names and "[Content_Types].xml" in names:
            return "docx"
    return None


def size_text(size: int) -> str:
    """「10 MB」「350 KB」「120 バイト」 as a person reads a file's size."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.3g} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} バイト"


def check_upload(upload: Upload, *, max_bytes: int) -> str:
    """The file's type, or a FieldError saying in Japanese what is wrong with it."""
    if not upload.data:
        raise FieldError("計画のファイルを選んでください（空のファイルは登録できません） (no file)", field="file")
    if len(upload.data) > max_bytes:
        raise FieldError(
            f"ファイルが大きすぎます。{size_text(max_bytes)} までのファイルを登録できます "
            f"(file too large: at most {max_bytes} bytes)",
            field="file",
        )
    kind = sniff(upload.data)
    if kind is None:
        raise FieldError(
            "Word（.docx）または PDF のファイルを選んでください。ファイルの中身がどちらでもありません"
            "（.doc の場合は Word で .docx として保存し直してください） (the content is neither .docx nor PDF)",
            field="file",
        )
    return kind


def _clean_name(name: str) -> str:
    """The uploader's file name as text to show: no path, no control characters, at most 200 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in unicodedata.normalize("NFC", base) if unicodedata.category(ch)[0] != "C").strip()
    return base[:200] or "（名前なし）"


def latest_plan_version(session: Session, institution_id: int) -> int:
    return session.exec(
        select(func.coalesce(func.max(BcpPlan.version), 0)).where(BcpPlan.institution_id == institution_id)
    ).one()


def upload_plan(
    *,
    session: Session,
    principal: Principal,
    institution: Institution,
    upload: Upload,
    max_bytes: int,
    note: str | None = None,
    draft_id: int | None = None,
) -> BcpPlan:
    """Store ``upload`` as the institution's next finished plan. The caller has checked scope."""
    kind = check_upload(upload, max_bytes=max_bytes)
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise FieldError(f"メモは{MAX_NOTE_CHARS}文字以内で入力してください (note too long)", field="note")
    if draft_id is not None:
        draft_institution = session.exec(select(BcpDraft.institution_id).where(BcpDraft.id == draft_id)).first()
        if draft_institution != institution.id:
            raise FieldError(
                "もとにした草案の版が、この施設の版ではありません (draft of another institution)", field="draft_id"
            )
    plan = BcpPlan(
        institution_id=institution.id,
        version=latest_plan_version(session, institution.id) + 1,
        file_type=kind,
        original_name=_clean_name(upload.name),
        size_bytes=len(upload.data),
        sha256=hashlib.sha256(upload.data).hexdigest(),
        note=note,
        draft_id=draft_id,
        uploaded_by_user_id=principal.user_id,
        uploaded_by_name=principal.username,
        content=upload.data,
    )
    session.add(plan)
    session.flush()
    log.info(
        "bcp_plan.uploaded",
        extra={
            "plan_id": plan.id,
            "institution_id": institution.id,
            "version": plan.version,
            "size_bytes": plan.size_bytes,
        },
    )
    return plan


def list_plans(*, session: Session, principal: Principal, institution_id: int) -> list[BcpPlan]:
    """The institution's finished plans, newest first, without their files."""
    get_institution_in_scope(session=session, principal=principal, institution_id=institution_id)
    return list(
        session.exec(
            select(BcpPlan)
            .options(defer(BcpPlan.content))
            .where(BcpPlan.institution_id == institution_id)
            .order_by(col(BcpPlan.version).desc())
        ).all()
    )


def get_plan(*, session: Session, principal: Principal, plan_id: int) -> BcpPlan:
    plan = session.exec(
        select(BcpPlan)
        .join(Institution, Institution.id == BcpPlan.institution_id)
        .where(BcpPlan.id == plan_id, *institution_scope(principal))
    ).first()
    if plan is None:
        raise NotFound(PLAN_NOT_FOUND)
    return plan


def download_name(plan: BcpPlan) -> str:
    return f"bcp-plan-{plan.institution_id}-v{plan.version}.{plan.file_type}"


def audit_plan(
    *, session: Session, principal: Principal, plan: BcpPlan, action: str, request: Request | None = None
) -> None:
    """Uploads and downloads of a plan: the file may name any of the institution's patients, which the
    service cannot read out of it, so the event names the plan, not patient ids."""
    record(
        session=session,
        principal=principal,
        action=action,
        patient_ids=[],
        request=request,
        detail=f"bcp_plan:{plan.id} institution:{plan.institution_id} version:{plan.version}",
    )
