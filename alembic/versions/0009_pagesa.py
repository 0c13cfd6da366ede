"""Patients: a stored search form of name and kana; why and when the status last changed.

``name_search`` holds name and kana normalised as people type them (width, kana, spaces, variant
kanji: ``bcp_service/registry/search_text.py``); existing rows are filled here in batches. On
PostgreSQL the generated bigram column behind the GIN index is rebuilt from it, so the index
narrows a normalised query as it narrowed the raw one.

Revision ID: 0009_pagesa
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa

from alembic import op

revision = "0009_pagesa"
down_revision = "0008"
branch_labels = None
depends_on = None

BATCH = 5000


def _backfill() -> None:
    from bcp_service.search_text import search_key

    bind = op.get_bind()
    patient = sa.table(
        "patient",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("name_kana", sa.String),
        sa.column("name_search", sa.String),
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(patient.c.id, patient.c.name, patient.c.name_kana)
            .where(patient.c.id > last)
            .order_by(patient.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        bind.execute(
            patient.update().where(patient.c.id == sa.bindparam("pid")).values(name_search=sa.bindparam("key")),
            [{"pid": r.id, "key": search_key(r.name, r.name_kana)} for r in rows],
        )
        last = rows[-1].id


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("patient") as batch:
        batch.add_column(sa.Column("name_search", sa.String(length=210), nullable=False, server_default=""))
        batch.add_column(sa.Column("status_reason", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True))
    _backfill()
    if postgres:
        # Writers must set it (a silent "" would hide the patient from search). SQLite keeps the default:
        # dropping it there means rebuilding a table other tables reference.
        op.alter_column("patient", "name_search", server_default=None)
        op.execute("ALTER TABLE patient DROP COLUMN name_bigrams")
        op.execute(
            "ALTER TABLE patient ADD COLUMN name_bigrams text[] GENERATED ALWAYS AS (name_bigrams(name_search)) STORED"
        )
        op.execute("CREATE INDEX ix_patient_name_bigrams ON patient USING gin (name_bigrams)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE patient DROP COLUMN name_bigrams")
        op.execute(
            "ALTER TABLE patient ADD COLUMN name_bigrams text[] GENERATED ALWAYS AS "
            "(name_bigrams(coalesce(name, '') || ' ' || coalesce(name_kana, ''))) STORED"
        )
        op.execute("CREATE INDEX ix_patient_name_bigrams ON patient USING gin (name_bigrams)")
    with op.batch_alter_table("patient") as batch:
        batch.drop_column("status_changed_at")
        batch.drop_column("status_reason")
        batch.drop_column("name_search")
