"""Checks that ids given in a request point at rows of the right kind."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, select

from bcp_service.errors import FieldError
from bcp_service.models import HomeCareRegion, Institution, Municipality, Prefecture
from bcp_service.models.enums import InstitutionKind

HOSPITAL_KINDS = {
    InstitutionKind.backup_hospital,
    InstitutionKind.hospital,
    InstitutionKind.home_care_support_hospital,
    InstitutionKind.clinic_with_beds,
}
NURSE_STATION_KINDS = {InstitutionKind.visiting_nurse_station}


def require_row(session: Session, model, row_id: int | None, field: str, prefecture_id: int | None = None):
    """The row, or a 422; with ``prefecture_id``, a row of another prefecture is refused as if absent."""
    if row_id is None:
        return None
    row = session.get(model, row_id)
    if row is None or (prefecture_id is not None and row.prefecture_id != prefecture_id):
        raise FieldError(f"{field}: id {row_id} は存在しません (no such {model.__tablename__})", field=field)
    return row


def require_municipality(session: Session, municipality_id: int, field: str = "municipality_id") -> Municipality:
    return require_row(session, Municipality, municipality_id, field)


def require_prefecture(session: Session, prefecture_id: int, field: str = "prefecture_id") -> Prefecture:
    return require_row(session, Prefecture, prefecture_id, field)


def require_region(session: Session, region_id: int, field: str = "region_id") -> HomeCareRegion:
    return require_row(session, HomeCareRegion, region_id, field)


def require_institution(
    session: Session, institution_id: int | None, field: str, kinds: set[str] | None = None
) -> Institution | None:
    institution = require_row(session, Institution, institution_id, field)
    if institution is not None and kinds and institution.kind not in kinds:
        allowed = ", ".join(sorted(kinds))
        raise FieldError(f"{field}: 施設の種別が {institution.kind} です ({allowed} expected)", field=field)
    return institution


def require_municipalities(
    session: Session, ids: Iterable[int], field: str, prefecture_id: int | None = None
) -> list[int]:
    """Every id an existing municipality (of ``prefecture_id`` when given: another's counts as absent)."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    query = select(Municipality.id).where(Municipality.id.in_(wanted))
    if prefecture_id is not None:
        query = query.where(Municipality.prefecture_id == prefecture_id)
    found = set(session.exec(query).all())
    missing = [i for i in wanted if i not in found]
    if missing:
        raise FieldError(f"{field}: 存在しない市町村 id {missing} (no such municipality)", field=field)
    return wanted
