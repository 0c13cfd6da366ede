"""Audit tables append-only on both engines, TRUNCATE included (issue 12.5).

0002 refused UPDATE and DELETE on ``audit_event`` on PostgreSQL and only UPDATE on SQLite;
``audit_event_patient`` accepted everything and ``TRUNCATE`` passed the row trigger. Now every
UPDATE, DELETE and TRUNCATE on either table raises, on both engines.

Revision ID: 0012_sec
Revises: 0011_feeds
Create Date: 2026-12-02
"""

from alembic import op

revision = "0012_sec"
down_revision = "0011_feeds"
branch_labels = None
depends_on = None

TABLES = ("audit_event", "audit_event_patient")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_event_patient_no_change BEFORE UPDATE OR DELETE ON audit_event_patient "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
            )
    else:
        statements = [("audit_event", "DELETE"), ("audit_event_patient", "UPDATE"), ("audit_event_patient", "DELETE")]
        for table, statement in statements:
            op.execute(
                f"CREATE TRIGGER {table}_no_{statement.lower()} BEFORE {statement} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP TRIGGER IF EXISTS audit_event_patient_no_change ON audit_event_patient")
        op.execute("DROP FUNCTION IF EXISTS audit_append_only()")
    else:
        for name in ("audit_event_no_delete", "audit_event_patient_no_update", "audit_event_patient_no_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
