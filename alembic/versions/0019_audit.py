"""An audit trail no one can rewrite, and that says what changed (issues 23.3 and 27.3).

- ``audit_event.chain_hash``: sha256 over the row's canonical fields, its patient ids and the
  previous row's hash (``bcp_service/audit/chain.py``; ``bcp-service audit verify`` walks it).
  Rows written before this migration keep ``NULL``: the chain's genesis is the first row written
  after it, whose "previous hash" is 64 zeros (docs in README, "Audit trail").
- ``audit_event.changes``: for an update, the fields changed, with old and new values for
  non-personal fields and only "changed" for personal ones.
- Indexes for the audit page's filters read newest first (keyset on ``id``): by account, action,
  user name, and patient.
- SQLite: ``INSERT OR REPLACE`` deletes the row it replaces without firing the DELETE trigger
  (unless ``recursive_triggers`` is on), so a BEFORE INSERT trigger refuses any insert whose key is
  already present, on both audit tables.
- PostgreSQL: two roles, created if missing (roles are cluster-wide): ``bcp_audit_owner``
  (NOLOGIN) owns both audit tables; ``bcp_app`` (NOLOGIN) is the group the service's login role
  belongs to, granted every table's rows except UPDATE, DELETE and TRUNCATE on the audit tables
  (INSERT and SELECT only). Not being the owner, the service cannot disable the triggers, alter or
  drop the tables, or grant itself more; ``bcp-service db upgrade --service-role NAME`` (run by the
  database admin) creates the login role NAME in ``bcp_app``. Downgrade gives the tables back to
  the migrating role and revokes the grants; the roles stay (other databases of the cluster may use
  them).

Revision ID: 0019_audit
Revises: 0022_triage
Create Date: 2026-12-07
"""

import sqlalchemy as sa

from alembic import op

revision = "0019_audit"
down_revision = "0022_triage"
branch_labels = None
depends_on = None

TABLES = ("audit_event", "audit_event_patient")
LOCK_KEY = 168630212  # the audit chain's advisory lock (bcp_service/audit/chain.py)
OWNER, APP = "bcp_audit_owner", "bcp_app"
KEYS = {"audit_event": "id = NEW.id", "audit_event_patient": "event_id = NEW.event_id AND patient_id = NEW.patient_id"}
INDEXES = [
    ("ix_audit_event_user_id_id", "audit_event", ["user_id", "id"]),
    ("ix_audit_event_username_id", "audit_event", ["username", "id"]),
    ("ix_audit_event_action_id", "audit_event", ["action", "id"]),
    ("ix_audit_event_patient_patient_event", "audit_event_patient", ["patient_id", "event_id"]),
]


def _create_role(name: str) -> None:
    op.execute(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{name}') THEN "
        f"CREATE ROLE {name} NOLOGIN; END IF; END $$"
    )


def upgrade() -> None:
    op.add_column("audit_event", sa.Column("chain_hash", sa.String(length=64), nullable=True))
    op.add_column("audit_event", sa.Column("changes", sa.JSON(), nullable=True))
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    if op.get_bind().dialect.name != "postgresql":
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
                f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {KEYS[table]}) "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
        return
    _create_role(OWNER)
    _create_role(APP)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP}, {OWNER}")  # the owner runs the foreign-key checks
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP}")
    op.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {APP}")
    # Tables and sequences later migrations create (as the same migrating role) are the service's too.
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {APP}")
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} OWNER TO {OWNER}")
        op.execute(f"REVOKE ALL ON {table} FROM PUBLIC")
        op.execute(f"REVOKE ALL ON {table} FROM {APP}")
        op.execute(f"GRANT SELECT, INSERT ON {table} TO {APP}")
    op.execute("REVOKE ALL ON SEQUENCE audit_event_id_seq FROM PUBLIC")
    op.execute(f"REVOKE ALL ON SEQUENCE audit_event_id_seq FROM {APP}")
    op.execute(f"GRANT USAGE ON SEQUENCE audit_event_id_seq TO {APP}")
    for function in ("audit_event_append_only()", "audit_append_only()"):
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
    # The chain's head in one round trip: the lock (held to the transaction's end), then the last hash
    # read by a statement of its own, whose fresh READ COMMITTED snapshot sees the previous holder's commit.
    op.execute(
        "CREATE OR REPLACE FUNCTION audit_chain_head() RETURNS varchar LANGUAGE plpgsql VOLATILE AS $$ "
        f"DECLARE head varchar; BEGIN PERFORM pg_advisory_xact_lock({LOCK_KEY}); "
        "SELECT chain_hash INTO head FROM audit_event WHERE chain_hash IS NOT NULL ORDER BY id DESC LIMIT 1; "
        "RETURN head; END $$"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_chain_head()")
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} OWNER TO CURRENT_USER")
        op.execute(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {APP}"
        )
        op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT, UPDATE ON SEQUENCES FROM {APP}")
        op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP}")
        op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP}")
        op.execute(f"REVOKE ALL ON SCHEMA public FROM {APP}, {OWNER}")
    else:
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_replace")
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    # Not in batch mode: rebuilding the SQLite table would drop its append-only triggers.
    op.drop_column("audit_event", "changes")
    op.drop_column("audit_event", "chain_hash")
