"""Patient external ids: unique per organisation that gave them, not database-wide.

A database-wide unique external id made a create, a PATCH or a CSV row answer "already exists" for
a patient in another institution or prefecture: an oracle for patients outside the caller's scope
(issue 12). The id is now unique per ``external_id_owner`` (the account's organisation that wrote
it); ids already stored keep no owner, so nothing existing can violate the new index (NULLs are
distinct on both engines). SQLite drops the old constraint by rebuilding the table, which
``bcp_service.migrations`` runs with foreign keys off and checked before the commit.

Revision ID: 0014_sec12
Revises: 0013_tel
Create Date: 2026-12-03
"""

import sqlalchemy as sa

from alembic import op

revision = "0014_sec12"
down_revision = "0013_tel"
branch_labels = None
depends_on = None

# SQLite's unnamed constraint gets this name when the batch reflects the table.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("patient_external_id_key", "patient", type_="unique")
        op.add_column("patient", sa.Column("external_id_owner", sa.String(length=40), nullable=True))
    else:
        with op.batch_alter_table("patient", naming_convention=NAMING, recreate="always") as batch:
            batch.drop_constraint("uq_patient_external_id", type_="unique")
            batch.add_column(sa.Column("external_id_owner", sa.String(length=40), nullable=True))
    op.create_index("ix_patient_external_id", "patient", ["external_id"])
    op.create_index("uq_patient_external_id_owner", "patient", ["external_id_owner", "external_id"], unique=True)


def downgrade() -> None:
    duplicated = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT count(*) FROM (SELECT external_id FROM patient WHERE external_id IS NOT NULL "
                "GROUP BY external_id HAVING count(*) > 1) AS d"
            )
        )
        .scalar()
    )
    if duplicated:
        raise RuntimeError(
            f"{duplicated} external ids are used by several patients; make them unique before downgrading"
        )
    op.drop_index("uq_patient_external_id_owner", table_name="patient")
    op.drop_index("ix_patient_external_id", table_name="patient")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_column("patient", "external_id_owner")
        op.create_unique_constraint("patient_external_id_key", "patient", ["external_id"])
    else:
        with op.batch_alter_table("patient", naming_convention=NAMING, recreate="always") as batch:
            batch.drop_column("external_id_owner")
            batch.create_unique_constraint("uq_patient_external_id", ["external_id"])
