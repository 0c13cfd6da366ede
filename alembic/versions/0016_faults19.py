"""One heartbeat table: the workers' rows move from ``worker_heartbeat`` into ``service_heartbeat``.

Two tables and two modules held the same thing (issue 14). A worker is now a ``service_heartbeat``
row named ``worker`` whose ``info`` holds its counts (``sent``, ``failed``) and what its ``sender``
row used to report (``provider_unavailable_since``, ``lanes_down``); the ``sender`` rows are folded
into it. Downgrade moves them back.

Revision ID: 0016_faults19
Revises: 0015_feeds17
Create Date: 2026-12-02
"""

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0016_faults19"
down_revision = "0015_feeds17"
branch_labels = None
depends_on = None

service = sa.table(
    "service_heartbeat",
    sa.column("instance_id", sa.String),
    sa.column("name", sa.String),
    sa.column("host", sa.String),
    sa.column("process_id", sa.Integer),
    sa.column("started_at", sa.DateTime(timezone=True)),
    sa.column("beat_at", sa.DateTime(timezone=True)),
    sa.column("stopped_at", sa.DateTime(timezone=True)),
    sa.column("info", sa.JSON),
)
worker = sa.table(
    "worker_heartbeat",
    sa.column("worker_id", sa.String),
    sa.column("hostname", sa.String),
    sa.column("pid", sa.Integer),
    sa.column("started_at", sa.DateTime(timezone=True)),
    sa.column("beat_at", sa.DateTime(timezone=True)),
    sa.column("stopped_at", sa.DateTime(timezone=True)),
    sa.column("sent", sa.Integer),
    sa.column("failed", sa.Integer),
)


def upgrade() -> None:
    bind = op.get_bind()
    senders = {
        row.instance_id: dict(row.info or {})
        for row in bind.execute(sa.select(service.c.instance_id, service.c.info).where(service.c.name == "sender"))
    }
    existing = set(bind.execute(sa.select(service.c.instance_id)).scalars())
    rows = []
    for row in bind.execute(sa.select(worker)):
        if row.worker_id in existing:
            continue
        info = {**senders.get(f"sender:{row.worker_id}"[:100], {}), "sent": row.sent, "failed": row.failed}
        rows.append(
            {
                "instance_id": row.worker_id,
                "name": "worker",
                "host": row.hostname,
                "process_id": row.pid,
                "started_at": row.started_at,
                "beat_at": row.beat_at,
                "stopped_at": row.stopped_at,
                "info": info,
            }
        )
    if rows:
        op.bulk_insert(service, rows)
    op.execute(service.delete().where(service.c.name == "sender"))
    op.drop_table("worker_heartbeat")


def downgrade() -> None:
    op.create_table(
        "worker_heartbeat",
        sa.Column("worker_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("hostname", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("worker_id"),
    )
    bind = op.get_bind()
    rows = []
    for row in bind.execute(sa.select(service).where(service.c.name == "worker")):
        info = dict(row.info or {})
        rows.append(
            {
                "worker_id": row.instance_id,
                "hostname": row.host,
                "pid": row.process_id,
                "started_at": row.started_at,
                "beat_at": row.beat_at,
                "stopped_at": row.stopped_at,
                "sent": int(info.get("sent") or 0),
                "failed": int(info.get("failed") or 0),
            }
        )
    if rows:
        op.bulk_insert(worker, rows)
    op.execute(service.delete().where(service.c.name == "worker"))
