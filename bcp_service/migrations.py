"""Run Alembic from code (the CLI and the tests use this)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic.config import Config
from sqlalchemy import Connection, Engine

from alembic import command

SCRIPT_LOCATION = Path(__file__).resolve().parents[1] / "alembic"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> None:
    _run(engine, lambda cfg: command.upgrade(cfg, revision))


def downgrade(engine: Engine, revision: str) -> None:
    _run(engine, lambda cfg: command.downgrade(cfg, revision))


def _run(engine: Engine, step: Callable[[Config], None]) -> None:
    """One transaction. On SQLite, foreign keys are off while it runs (a migration that rebuilds a
    table others reference, 0014, could not drop the old one) and checked before the commit; the
    pragma is ignored inside a transaction, so it is set on the driver's connection before it begins."""
    cfg = alembic_config()
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _pragma(connection, "PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                cfg.attributes["connection"] = connection
                step(cfg)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration left {len(broken)} rows with broken foreign keys")
        finally:
            if sqlite:
                _pragma(connection, "PRAGMA foreign_keys=ON")


def _pragma(connection: Connection, statement: str) -> None:
    connection.connection.driver_connection.execute(statement)


def current_heads(engine: Engine) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())
