"""CSV import benchmark on PostgreSQL: 100,000 synthetic patients through ``bcp-service import patients``.

    .venv/bin/python load_tests/import_bench.py [--rows 100000] [--keep] [--xlsx]

Creates (and drops, unless --keep) its own database ``bcp_import_bench`` on 127.0.0.1:5432, migrates
it, loads the Chiba demo structure, gives every institution an external id, writes the patients as
a CP932 CSV (what Excel writes in Japan) and times the real command, progress bar and all, as a
separate process:

1. ``--dry-run`` (every row checked, nothing written)
2. the first import (every row created)
3. the same file again (every row unchanged: nothing written)
4. a file with 10 % of rows changed (updates, with contacts replaced)

``--xlsx`` writes the same rows as an Excel workbook instead, as offices keep them: a title row and a
date above the header, birth dates as date cells, a 備考 column the importer reads past.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bcp_service import migrations  # noqa: E402
from bcp_service.csv_export import csv_lines  # noqa: E402
from bcp_service.db import make_engine, make_session_factory  # noqa: E402
from bcp_service.demo.chiba import load_chiba  # noqa: E402
from bcp_service.demo.synthetic import load_pools, synthetic_patient  # noqa: E402
from bcp_service.exports.patients import format_cell  # noqa: E402
from bcp_service.imports.columns import CONTACT_FIELD, CONTACT_KEY, EXPORT_MIN_CONTACTS, PATIENT_COLUMNS  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
DB = "bcp_import_bench"
URL = f"postgresql://postgres@127.0.0.1:5432/{DB}"
COLUMNS = [
    c
    for c in PATIENT_COLUMNS
    if not c.export_only and (not (m := CONTACT_KEY.match(c.key)) or int(m.group(1)) <= EXPORT_MIN_CONTACTS)
]


def recreate_database() -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")


def drop_database() -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def prepare(engine) -> tuple[dict[int, str], dict[int, str]]:
    migrations.upgrade(engine)
    with make_session_factory(engine)() as session:
        load_chiba(session)
        session.execute(text("UPDATE institution SET external_id = 'CHIBA-' || lpad(id::text, 5, '0')"))
        session.commit()
        refs = dict(session.execute(text("SELECT id, external_id FROM institution")).all())
        codes = dict(session.execute(text("SELECT id, code FROM municipality")).all())
    return refs, codes


def csv_row(record: dict, contacts: list[dict], refs: dict[int, str], codes: dict[int, str]) -> list[str]:
    cells = []
    for column in COLUMNS:
        if match := CONTACT_KEY.match(column.key):
            slot, part = int(match.group(1)), match.group(2)
            value = contacts[slot - 1][CONTACT_FIELD[part]] if slot <= len(contacts) else None
        else:
            value = record.get(column.field)
        cells.append(format_cell(column, value, refs, codes))
    return cells


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("wb") as handle:
        for chunk in csv_lines([c.ja for c in COLUMNS], rows):
            handle.write(chunk.lstrip("\ufeff").encode("cp932"))


def write_xlsx(path: Path, rows: list[list[str]]) -> None:
    from datetime import date

    from openpyxl import Workbook

    birth = [c.key for c in COLUMNS].index("birth_date")
    book = Workbook(write_only=True)
    sheet = book.create_sheet("患者一覧")
    sheet.append(["在宅人工呼吸器・在宅酸素療法 患者一覧"])
    sheet.append(["作成日", date(2026, 12, 1)])
    sheet.append([c.ja for c in COLUMNS] + ["備考"])
    for row in rows:
        cells: list[object] = list(row)
        if cells[birth]:
            cells[birth] = date.fromisoformat(cells[birth])
        sheet.append([*cells, "夜間は家族が同居"])
    book.save(path)


def generate(engine, count: int, refs, codes, seed: int = 7) -> list[list[str]]:
    pools = load_pools(engine)
    rng = random.Random(seed)
    rows = []
    for number in range(1, count + 1):
        record, contacts = synthetic_patient(rng, pools, number)
        record["external_id"] = f"BENCH-{number:07d}"
        rows.append(csv_row(record, contacts, refs, codes))
    return rows


def changed_copy(rows: list[list[str]], share: float, seed: int = 11) -> list[list[str]]:
    rng = random.Random(seed)
    status = [c.key for c in COLUMNS].index("status")
    phone = [c.key for c in COLUMNS].index("contact1_phone")
    result = [list(r) for r in rows]
    for row in rng.sample(result, int(len(result) * share)):
        row[status] = "入院"
        row[phone] = f"090-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
    return result


def run_cli(*args: str) -> tuple[float, str]:
    env = dict(os.environ, BCP_DATABASE_URL=URL, COLUMNS="100")
    started = time.perf_counter()
    done = subprocess.run(
        [str(ROOT / ".venv/bin/bcp-service"), *args], env=env, capture_output=True, text=True, cwd=ROOT
    )
    elapsed = time.perf_counter() - started
    summary = next((line for line in done.stderr.splitlines() if "新規" in line), done.stderr[-500:])
    if done.returncode != 0:
        raise SystemExit(f"import failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed, summary.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--xlsx", action="store_true", help="an .xlsx workbook with a title row, not a CSV")
    args = parser.parse_args()

    recreate_database()
    engine = make_engine(URL)
    try:
        refs, codes = prepare(engine)
        rows = generate(engine, args.rows, refs, codes)
        with tempfile.TemporaryDirectory() as tmp:
            suffix, write = (".xlsx", write_xlsx) if args.xlsx else (".csv", write_csv)
            first, second = Path(tmp) / f"patients{suffix}", Path(tmp) / f"patients-changed{suffix}"
            write(first, rows)
            write(second, changed_copy(rows, 0.10))
            shape = "xlsx" if args.xlsx else "CP932"
            print(
                f"{args.rows:,} rows, {first.stat().st_size / 1e6:.1f} MB {shape}, PostgreSQL, {os.cpu_count()} cores"
            )
            for label, cli_args in (
                ("dry run", ("import", "patients", str(first), "--dry-run")),
                ("first import (all created)", ("import", "patients", str(first))),
                ("same file again (all unchanged)", ("import", "patients", str(first))),
                ("10% of rows changed", ("import", "patients", str(second))),
            ):
                elapsed, summary = run_cli(*cli_args)
                print(f"{label:34} {elapsed:6.1f} s   {summary}")
        with engine.connect() as conn:
            patients = conn.execute(text("SELECT count(*) FROM patient")).scalar()
            contacts = conn.execute(text("SELECT count(*) FROM patient_contact")).scalar()
        print(f"database: {patients:,} patients, {contacts:,} contacts")
    finally:
        engine.dispose()
        if not args.keep:
            drop_database()


if __name__ == "__main__":
    main()
