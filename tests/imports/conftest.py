import pytest
from sqlalchemy import func, select

from bcp_service.imports import import_csv
from bcp_service.models import Institution, Patient, PatientContact
from tests.factories import create_institution, create_municipality, create_prefecture, create_region, designate

HEADER_JA = [
    "外部ID",
    "氏名",
    "氏名カナ",
    "生年月日",
    "性別",
    "市町村コード",
    "人工呼吸器",
    "呼吸器の種類",
    "内部バッテリー時間",
    "外部バッテリー時間",
    "担当積極的医療機関ID",
    "訪問看護ステーションID",
    "連絡先1電話",
    "連絡先2電話",
    "連絡先2続柄",
]


@pytest.fixture
def area(session):
    prefecture = create_prefecture(session)
    city = create_municipality(session, prefecture)
    town = create_municipality(session, prefecture)
    region = create_region(session, prefecture, [city])
    clinic = create_institution(session, city, external_id="T-CLINIC")
    hub = create_institution(session, city, kind="medical_association", external_id="T-HUB")
    designate(session, clinic, region, "active_institution")
    designate(session, hub, region, "hub", covers=[city])
    station = create_institution(session, city, kind="visiting_nurse_station", external_id="T-STATION")
    backup = create_institution(session, town, kind="backup_hospital", external_id="T-BACKUP")
    return {
        "prefecture": prefecture,
        "city": city,
        "town": town,
        "region": region,
        "clinic": clinic,
        "hub": hub,
        "station": station,
        "backup": backup,
    }


def patient_row(area, external_id="P-1", **overrides):
    row = {
        "外部ID": external_id,
        "氏名": "架空 太郎",
        "氏名カナ": "カクウ タロウ",
        "生年月日": "1950-04-01",
        "性別": "男性",
        "市町村コード": area["city"].code,
        "人工呼吸器": "はい",
        "呼吸器の種類": "TPPV",
        "内部バッテリー時間": "3",
        "外部バッテリー時間": "6",
        "担当積極的医療機関ID": "T-CLINIC",
        "訪問看護ステーションID": "T-STATION",
        "連絡先1電話": "090-1234-5678",
        "連絡先2電話": "03-1234-5678",
        "連絡先2続柄": "配偶者",
    }
    row.update(overrides)
    return row


def to_csv(rows, header=None, newline="\r\n") -> str:
    header = header or list(rows[0])
    lines = [",".join(header)]
    for row in rows:
        lines.append(",".join(_quote(str(row.get(h, ""))) for h in header))
    return newline.join(lines) + newline


def _quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(ch in cell for ch in ',"\r\n') else cell


def counts(session) -> tuple[int, int, int]:
    return tuple(
        session.execute(select(func.count()).select_from(model)).scalar()
        for model in (Patient, PatientContact, Institution)
    )


@pytest.fixture
def run(session, settings):
    """``run(data, kind="patients", dry_run=False, principal=None, **setting_overrides)`` -> ImportResult."""

    def go(data, *, kind="patients", dry_run=False, principal=None, sheet=None, **overrides):
        if isinstance(data, str):
            data = data.encode("utf-8")
        used = settings.model_copy(update=overrides) if overrides else settings
        return import_csv(kind, data, session=session, principal=principal, settings=used, dry_run=dry_run, sheet=sheet)

    return go


def errors_of(report) -> list[tuple]:
    return [(e.line, e.column, e.reason) for e in report.errors]
