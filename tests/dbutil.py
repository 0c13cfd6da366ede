"""For the few tests that must commit (workers, bulk loads): empty every table afterwards."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlmodel import SQLModel

import bcp_service.models  # noqa: F401


def wipe_database(engine: Engine) -> None:
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
