"""JMA feeds polled (jma_feed, jma_feed_entry); power outages as an input (power_outage); advance-notice
rounds (safety_round.kind); patients' power needs and planned place to stay

Revision ID: 0011_feeds
Revises: 0010_clinical
Create Date: 2026-12-02

``jma_feed_entry.link`` is UNIQUE: that key is what makes each bulletin decided once however many
pollers run and however often they restart (bcp_service/feeds/poller.py).
"""

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0011_feeds"
down_revision = "0010_clinical"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jma_feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("etag", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("last_modified", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ok_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url"),
    )
    op.create_table(
        "jma_feed_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("link", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("entry_id", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("report_ids", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["feed_id"], ["jma_feed.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("link"),
    )
    op.create_index("ix_jma_feed_entry_state_updated", "jma_feed_entry", ["state", "updated"])
    op.create_table(
        "power_outage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("municipality_id", sa.Integer(), nullable=False),
        sa.Column("district", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expected_restoration_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("households", sa.Integer(), nullable=True),
        sa.Column("planned", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_by_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["municipality_id"], ["municipality.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "external_id", name="uq_power_outage_source_id"),
    )
    op.create_index(
        "ix_power_outage_open",
        "power_outage",
        ["municipality_id"],
        postgresql_where=sa.text("restored_at IS NULL"),
        sqlite_where=sa.text("restored_at IS NULL"),
    )

    with op.batch_alter_table("safety_round") as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False, server_default="safety_check"
            )
        )
    with op.batch_alter_table("round_schedule") as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False, server_default="safety_check"
            )
        )
    with op.batch_alter_table("patient") as batch_op:
        batch_op.add_column(sa.Column("device_watts", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("generator_access", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("car_power_access", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("planned_stay", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.add_column(
            sa.Column("planned_stay_place", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
        batch_op.add_column(sa.Column("planned_stay_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patient") as batch_op:
        for name in (
            "planned_stay_at",
            "planned_stay_place",
            "planned_stay",
            "car_power_access",
            "generator_access",
            "device_watts",
        ):
            batch_op.drop_column(name)
    with op.batch_alter_table("safety_round") as batch_op:
        batch_op.drop_column("kind")
    with op.batch_alter_table("round_schedule") as batch_op:
        batch_op.drop_column("kind")
    op.drop_index("ix_power_outage_open", table_name="power_outage")
    op.drop_table("power_outage")
    op.drop_index("ix_jma_feed_entry_state_updated", table_name="jma_feed_entry")
    op.drop_table("jma_feed_entry")
    op.drop_table("jma_feed")
