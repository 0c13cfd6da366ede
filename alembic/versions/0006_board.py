"""live board: indexes for the board's lists, and PostgreSQL notifications of answers and state changes

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-23

The board reads the top of its lists with LIMIT 50 on every live update, so those reads must not
sort a whole round: two partial indexes on ``safety_check`` (the people who need someone, the
people not heard from) and one on ``check_answer`` by round (the feed and the answer-rate chart).
Views narrowed to a region, municipality or hub count only their part of the round through
``(round_id, region_id | municipality_id | hub_id)``.

On PostgreSQL two triggers notify channel ``bcp_board``: after each new answer (payload
"<round id> <answer id>") and after each change of a check's state (the worker's
``delivery_failed``, escalation's ``unreachable``; payload "<round id>"). PostgreSQL folds identical
notifications of one transaction into one, so a round start that touches 200,000 checks sends one. Every API process LISTENs on that channel
(bcp_service/live/signals.py), so all of them see every answer whichever process recorded it.
The indexes are declared here only, not on the SQLModel tables, which belong to the rounds package.
"""

from alembic import op

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None

NEEDING = "state IN ('needs_help', 'power_out', 'needs_transport')"
SILENT = "state IN ('no_answer', 'unreachable', 'delivery_failed')"


def upgrade() -> None:
    op.execute(f"CREATE INDEX ix_safety_check_board_needing ON safety_check (round_id, hours_left) WHERE {NEEDING}")
    op.execute(f"CREATE INDEX ix_safety_check_board_silent ON safety_check (round_id, risk_tier, id) WHERE {SILENT}")
    op.execute("CREATE INDEX ix_check_answer_round ON check_answer (round_id, id)")
    # Counts for a region, hub, prefecture or hub scope: one GROUP BY over that part of the round only.
    for column in ("region_id", "municipality_id", "hub_id"):
        op.execute(f"CREATE INDEX ix_safety_check_board_{column[:-3]} ON safety_check (round_id, {column})")
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE FUNCTION bcp_board_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('bcp_board', NEW.round_id::text);
            RETURN NULL;
        END $$
    """)
    # An answer's notification carries its id: delivered at commit, it says exactly which answers
    # became visible, whatever order their transactions commit in.
    op.execute("""
        CREATE FUNCTION bcp_board_notify_answer() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('bcp_board', NEW.round_id::text || ' ' || NEW.id::text);
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER check_answer_board_notify AFTER INSERT ON check_answer
        FOR EACH ROW EXECUTE FUNCTION bcp_board_notify_answer()
    """)
    op.execute("""
        CREATE TRIGGER safety_check_board_notify AFTER UPDATE OF state ON safety_check
        FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION bcp_board_notify()
    """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS safety_check_board_notify ON safety_check")
        op.execute("DROP TRIGGER IF EXISTS check_answer_board_notify ON check_answer")
        op.execute("DROP FUNCTION IF EXISTS bcp_board_notify_answer()")
        op.execute("DROP FUNCTION IF EXISTS bcp_board_notify()")
    for name in ("region", "municipality", "hub"):
        op.execute(f"DROP INDEX IF EXISTS ix_safety_check_board_{name}")
    op.execute("DROP INDEX IF EXISTS ix_check_answer_round")
    op.execute("DROP INDEX IF EXISTS ix_safety_check_board_silent")
    op.execute("DROP INDEX IF EXISTS ix_safety_check_board_needing")
