"""``bcp-service import`` and ``export`` against a temporary SQLite database."""

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bcp_service import migrations
from bcp_service.cli import app
from bcp_service.config import get_settings
from bcp_service.db import make_engine, make_session_factory
from bcp_service.models import AuditEvent, Patient
from tests.factories import create_institution, create_municipality, create_prefecture
from tests.imports.conftest import HEADER_JA, patient_row, to_csv


@pytest.fixture
def database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("BCP_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = make_engine(url)
    migrations.upgrade(engine)
    factory = make_session_factory(engine)
    with factory() as session:
        city = create_municipality(session, create_prefecture(session))
        create_institution(session, city, external_id="T-CLINIC")
        create_institution(session, city, kind="visiting_nurse_station", external_id="T-STATION")
        session.commit()
        area = {"city": city}
    yield factory, area
    engine.dispose()
    get_settings.cache_clear()


def patients_in(factory) -> int:
    with factory() as session:
        return session.execute(select(func.count()).select_from(Patient)).scalar()


def test_import_dry_run_then_real_then_export(database, tmp_path):
    factory, area = database
    csv_file = tmp_path / "patients.csv"
    csv_file.write_bytes(to_csv([patient_row(area, "P-1"), patient_row(area, "P-2")], HEADER_JA).encode("cp932"))
    runner = CliRunner()

    dry = runner.invoke(app, ["import", "patients", str(csv_file), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and patients_in(factory) == 0

    real = runner.invoke(app, ["import", "patients", str(csv_file)])
    assert real.exit_code == 0, real.output
    assert "新規 2" in real.output and patients_in(factory) == 2
    with factory() as session:
        assert session.execute(select(AuditEvent.action, AuditEvent.patient_count)).all() == [("patient.import", 2)]

    out = tmp_path / "export.csv"
    exported = runner.invoke(app, ["export", "patients", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert out.read_bytes().startswith("\ufeff外部ID,氏名".encode("utf-8"))
    again = runner.invoke(app, ["import", "patients", str(out)])
    assert again.exit_code == 0 and "新規 0  更新 0  変更なし 2" in again.output


def test_import_with_errors_exits_1_and_lists_them(database, tmp_path):
    factory, area = database
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text(
        to_csv([patient_row(area, "P-1"), patient_row(area, "P-2", 生年月日="1950/2/30")], HEADER_JA), encoding="utf-8"
    )
    result = CliRunner().invoke(app, ["import", "patients", str(csv_file)])
    assert result.exit_code == 1
    assert (
        "生年月日" in result.output and "存在しない日付" in result.output and "何も書き込んでいません" in result.output
    )
    assert patients_in(factory) == 0


def test_import_institutions(database, tmp_path):
    _factory, area = database
    csv_file = tmp_path / "institutions.csv"
    csv_file.write_text(
        to_csv(
            [
                {
                    "external_id": "I-9",
                    "name": "架空病院",
                    "kind": "backup_hospital",
                    "municipality_code": area["city"].code,
                }
            ]
        ),
        encoding="utf-8-sig",
    )
    result = CliRunner().invoke(app, ["import", "institutions", str(csv_file)])
    assert result.exit_code == 0, result.output
    assert "新規 1" in result.output
