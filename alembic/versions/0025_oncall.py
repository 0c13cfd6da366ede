"""An on-call phone per institution (visiting-nurse station, hub): paged when a critical patient becomes
unreachable (issue 25.4, escalation/oncall.py).

Revision ID: 0025_oncall
Revises: 0019_audit
Create Date: 2026-12-07
"""

import sqlalchemy as sa

from alembic import op

revision = "0025_oncall"
down_revision = "0019_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("institution") as batch:
        batch.add_column(sa.Column("oncall_phone", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("institution") as batch:
        batch.drop_column("oncall_phone")
