"""Engine and session handling. The request is the unit of work: see ``get_session``.

SQLite write discipline, in this one place: every transaction begins with ``BEGIN IMMEDIATE``, so
it takes the database's write lock when it begins and waits for it (``busy_timeout``) like any
writer. A deferred ``BEGIN`` that reads first and writes later (a page that writes its audit row, a
worker that claims what it read) cannot wait: in WAL mode SQLite refuses the upgrade at once with
"database is locked" when another connection wrote meanwhile. Requests, group commits, the worker,
the scheduler and the CLI all get their sessions from ``make_session_factory`` and so all follow it.
Paths that only ever read (the board's live watcher, the health check) use ``read_only=True``: a
plain deferred ``BEGIN``, lock-free, never blocking a writer. PostgreSQL needs none of this.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine, event
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, create_engine


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and route them through psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin, so that
    # SAVEPOINTs (tests, nested units of work) behave as on PostgreSQL.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


READ_ONLY = "bcp_read_only"


def _sqlite_begin(connection) -> None:
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def read_only(engine: Engine) -> Engine:
    """The same engine (and pool) for work that never writes: on SQLite its transactions take no write lock."""
    return engine.execution_options(**{READ_ONLY: True})


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions for units of work. On SQLite each begins with the write lock unless ``read_only``."""
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return sessionmaker(bind=bind, class_=Session, expire_on_commit=False, autoflush=True)


@contextmanager
def unit_of_work(session_factory: Callable[[], Session]) -> Iterator[Session]:
    """One unit of work outside a request: commits at the end of the block, rolls back on an error."""
    with session_factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def get_session(request: Request) -> Iterator[Session]:
    """Open a session for one request; commit on success, roll back on any error."""
    session = request.app.state.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# "function" scope: the commit runs before the response is sent. FastAPI's default runs a yield
# dependency's exit code after the response, so a client (or Twilio) got 200 for a write whose
# commit could still fail, and row locks were held while the response went out.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
