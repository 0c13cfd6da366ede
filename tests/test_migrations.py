"""The schema comes only from the migrations: they must match the models and run both ways."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import bcp_service.models  # noqa: F401
from bcp_service import migrations
from bcp_service.db import make_engine


def drift(engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        diffs = compare_metadata(context, SQLModel.metadata)
    # PostgreSQL-only objects (the generated name-bigram column and its index) are not in the models.
    return [d for d in diffs if "name_bigrams" not in repr(d)]


def test_models_match_migrations_on_the_test_database(engine):
    assert drift(engine) == []


def test_single_head_and_round_trip(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    migrations.upgrade(engine)
    heads = migrations.current_heads(engine)
    assert len(heads) == 1
    migrations.downgrade(engine, "base")
    assert migrations.current_heads(engine) == set()
    migrations.upgrade(engine)
    assert migrations.current_heads(engine) == heads
    assert drift(engine) == []


def _engines_for_data_migration(tmp_path):
    """SQLite always; PostgreSQL too when the suite runs on it (a database of its own, dropped after)."""
    import os

    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    yield make_engine(f"sqlite:///{tmp_path / 'beats.sqlite3'}")
    url = os.environ.get("BCP_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        return
    name = f"{make_url(url).database}_m14"
    admin = make_engine(url)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(url).set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def test_worker_heartbeats_move_into_the_one_table_and_back(tmp_path):
    """0016_faults19: worker_heartbeat rows become service_heartbeat 'worker' rows (the sender rows folded in)."""
    import json

    from sqlalchemy import inspect, text

    for engine in _engines_for_data_migration(tmp_path):
        migrations.upgrade(engine, "0015_feeds17")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO worker_heartbeat (worker_id, hostname, pid, started_at, beat_at, sent, failed) "
                    "VALUES ('h:7:ab', 'h', 7, '2026-12-01 00:00:00+00:00', '2026-12-01 00:01:00+00:00', 12, 3)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO service_heartbeat (instance_id, name, host, process_id, started_at, beat_at, info) "
                    "VALUES ('sender:h:7:ab', 'sender', 'h', 7, '2026-12-01 00:00:00+00:00', "
                    "'2026-12-01 00:01:00+00:00', :info)"
                ),
                {"info": json.dumps({"lanes_down": ["sms"]})},
            )
        migrations.upgrade(engine)
        assert "worker_heartbeat" not in inspect(engine).get_table_names()
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT instance_id, name, process_id, info FROM service_heartbeat")).all()
        assert [(r[0], r[1], r[2]) for r in rows] == [("h:7:ab", "worker", 7)]
        info = rows[0][3] if isinstance(rows[0][3], dict) else json.loads(rows[0][3])
        assert info == {"sent": 12, "failed": 3, "lanes_down": ["sms"]}

        migrations.downgrade(engine, "0015_feeds17")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT worker_id, pid, sent, failed FROM worker_heartbeat")).all() == [
                ("h:7:ab", 7, 12, 3)
            ]
            assert connection.execute(text("SELECT count(*) FROM service_heartbeat")).scalar() == 0
        engine.dispose()
