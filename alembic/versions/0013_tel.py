"""Contacts: a channel that failed for good is marked on its own (SMS or voice), not the number.

A landline refuses SMS (Twilio 21614) but takes calls; marking the whole number bad skipped the
one call that would have reached the patient (issue 15). ``bad_since`` keeps meaning "the number
itself is invalid".

Revision ID: 0013_tel
Revises: 0012_sec
Create Date: 2026-12-02
"""

import sqlalchemy as sa

from alembic import op

revision = "0013_tel"
down_revision = "0012_sec"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patient_contact") as batch:
        batch.add_column(sa.Column("sms_bad_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("voice_bad_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patient_contact") as batch:
        batch.drop_column("voice_bad_since")
        batch.drop_column("sms_bad_since")
