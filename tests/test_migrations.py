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
