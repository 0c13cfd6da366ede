"""For the few tests that must commit (workers, bulk loads): empty every table afterwards."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlmodel import SQLModel

import bcp_service.models  # noqa: F401


def wipe_database(engine: Engine) -> None:
    """The audit tables are append-only (migration 0012_sec): their triggers are set aside for the wipe only."""
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))  # the test user is a superuser
            conn.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
        else:
            triggers = conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name LIKE 'audit_event%'")
            ).all()
            for name, _sql in triggers:
                conn.execute(text(f"DROP TRIGGER {name}"))
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
            for _name, sql in triggers:
                conn.execute(text(sql))
