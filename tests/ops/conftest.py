"""A second engine on the test database whose writes the database itself refuses (a real fault, not a mock).

SQLite: ``PRAGMA query_only`` on every connection ("attempt to write a readonly database", as a file made
read-only gives). PostgreSQL: ``default_transaction_read_only`` (as a standby after a failover answers).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlmodel import Session

from bcp_service.app import create_app
from bcp_service.db import make_engine
from bcp_service.models.base import utcnow
from tests.dbutil import wipe_database
from tests.factories import bearer, create_user


def read_only_engine(database_url: str):
    if database_url.startswith("postgresql"):
        joiner = "&" if "?" in database_url else "?"
        return make_engine(database_url + joiner + "options=-c%20default_transaction_read_only%3Don")
    engine = make_engine(database_url)

    def query_only(dbapi_connection, _record) -> None:
        dbapi_connection.execute("PRAGMA query_only = ON")

    event.listen(engine, "connect", query_only)
    return engine


@pytest.fixture
def committed_admin(engine) -> Iterator[dict[str, str]]:
    """An admin's bearer header, committed (the faulty app has its own connections), used just now."""
    with Session(engine) as session:
        headers = bearer(session, create_user(session, "admin"))
        from bcp_service.models import ApiToken

        for token in session.query(ApiToken).all():
            token.last_used_at = utcnow()  # a monitor polls often: its token needs no touch (a write)
        session.commit()
    yield headers
    wipe_database(engine)


@pytest.fixture
def faulty_client(settings, database_url, committed_admin) -> Iterator[TestClient]:
    engine = read_only_engine(database_url)
    with TestClient(create_app(settings, engine), headers=committed_admin) as client:
        yield client
    engine.dispose()


@pytest.fixture
def working_client(settings, engine, committed_admin) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine), headers=committed_admin) as client:
        yield client


@pytest.fixture(autouse=True)
def forget_refused_writes():
    """A page's refused write (its audit row deferred) marks this process as unable to write
    (db_outage.write_refused): not for the next test, nor the kept rows of this one."""
    yield
    from bcp_service import db_outage
    from bcp_service.audit import deferred

    db_outage.database_wrote()
    for path in deferred.pending():
        path.unlink(missing_ok=True)
