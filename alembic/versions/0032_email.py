"""Contacts keep one address row per channel (issue 24.3/24.4): ``contact_address`` (kind, address,
refused_since) replaces ``patient_contact.sms_bad_since`` / ``voice_bad_since``; a contact may have no
phone (reached only by e-mail); an outbox row's ``to_number`` holds any channel's address.

The refusals move to rows (kind "sms" / "voice", address NULL: the contact's phone). The downgrade
moves them back; it refuses to run while a contact has no phone or an address of its own (e-mail),
which the old columns cannot hold, rather than drop them silently.

Revision ID: 0032_email
Revises: 0028_regions
Create Date: 2026-12-07
"""

import sqlalchemy as sa

from alembic import op

revision = "0032_email"
down_revision = "0028_regions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact_address",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("contact_id", sa.Integer(), sa.ForeignKey("patient_contact.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=True),
        sa.Column("refused_since", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("contact_id", "kind", name="uq_contact_address_kind"),
    )
    op.create_index("ix_contact_address_contact_id", "contact_address", ["contact_id"])
    for kind in ("sms", "voice"):
        op.execute(
            f"INSERT INTO contact_address (contact_id, kind, address, refused_since) "
            f"SELECT id, '{kind}', NULL, {kind}_bad_since FROM patient_contact WHERE {kind}_bad_since IS NOT NULL"
        )
    with op.batch_alter_table("patient_contact") as batch:
        batch.drop_column("voice_bad_since")
        batch.drop_column("sms_bad_since")
        batch.alter_column("phone", existing_type=sa.String(length=20), nullable=True)
    with op.batch_alter_table("outbox_message") as batch:
        batch.alter_column(
            "to_number", existing_type=sa.String(length=20), type_=sa.String(length=254), existing_nullable=False
        )


def downgrade() -> None:
    bind = op.get_bind()
    kept = (
        bind.execute(sa.text("SELECT count(*) FROM patient_contact WHERE phone IS NULL")).scalar_one()
        + bind.execute(sa.text("SELECT count(*) FROM contact_address WHERE address IS NOT NULL")).scalar_one()
    )
    if kept:
        raise RuntimeError(f"{kept} contacts or addresses (e-mail) have no place before 0032_email: remove them first")
    long_rows = bind.execute(sa.text("SELECT count(*) FROM outbox_message WHERE length(to_number) > 20")).scalar_one()
    if long_rows:
        raise RuntimeError(f"{long_rows} outbox rows hold an address longer than a phone number: remove them first")
    with op.batch_alter_table("outbox_message") as batch:
        batch.alter_column(
            "to_number", existing_type=sa.String(length=254), type_=sa.String(length=20), existing_nullable=False
        )
    with op.batch_alter_table("patient_contact") as batch:
        batch.alter_column("phone", existing_type=sa.String(length=20), nullable=False)
        batch.add_column(sa.Column("sms_bad_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("voice_bad_since", sa.DateTime(timezone=True), nullable=True))
    for kind in ("sms", "voice"):
        op.execute(
            f"UPDATE patient_contact SET {kind}_bad_since = (SELECT refused_since FROM contact_address a "
            f"WHERE a.contact_id = patient_contact.id AND a.kind = '{kind}')"
        )
    op.drop_index("ix_contact_address_contact_id", table_name="contact_address")
    op.drop_table("contact_address")
