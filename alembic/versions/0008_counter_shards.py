"""Round counters spread over shards: each writer moves its own rows, reads sum them.

Every answer to a round moved the same counter rows (the round's "all" and risk-tier counts), and
under a burst four to six writers queued on their row locks (load_tests/RESULTS.md, "Disaster
burst"). With a shard per writer thread they rarely meet. The table is rebuilt (SQLite cannot
change a primary key in place); existing rows become shard 0.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

KEY = ["round_id", "dimension", "key", "state"]


def _create(name: str, *, sharded: bool) -> None:
    columns = [
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("dimension", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
    ]
    if sharded:
        columns.append(sa.Column("shard", sa.SmallInteger(), nullable=False, server_default="0"))
    op.create_table(name, *columns, sa.PrimaryKeyConstraint(*KEY, *(["shard"] if sharded else [])))


def _swap(select_rows: str, *, sharded: bool) -> None:
    _create("round_counter_new", sharded=sharded)
    columns = ", ".join([*KEY, "count", *(["shard"] if sharded else [])])
    op.execute(f"INSERT INTO round_counter_new ({columns}) {select_rows}")
    op.drop_table("round_counter")
    op.rename_table("round_counter_new", "round_counter")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE round_counter RENAME CONSTRAINT round_counter_new_pkey TO round_counter_pkey")


def upgrade() -> None:
    _swap("SELECT round_id, dimension, key, state, count, 0 FROM round_counter", sharded=True)


def downgrade() -> None:
    _swap(
        "SELECT round_id, dimension, key, state, SUM(count) FROM round_counter GROUP BY round_id, dimension, key, state",
        sharded=False,
    )
