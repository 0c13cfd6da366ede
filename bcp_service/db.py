"""Engine and session handling. The request is the unit of work: see ``get_session``.

SQLite write discipline, in this one place. A transaction begun with a deferred ``BEGIN`` that reads
first and writes later (a page that writes its audit row, a worker that claims what it read) cannot
wait for the write lock: in WAL mode SQLite refuses the upgrade at once with "database is locked"
when another connection wrote meanwhile, and ``busy_timeout`` cannot help. So no read ever becomes a
write. Sessions come from ``make_session_factory`` in one of three modes:

- ``immediate`` (the default: group commits, the worker, the scheduler, the CLI): ``BEGIN IMMEDIATE``,
  the write lock from the start, waited for like any writer.
- ``write_late`` (requests, ``get_session``): reads run in a deferred transaction without the lock;
  just before the first write (or SAVEPOINT, or SELECT ... FOR UPDATE) that read transaction ends and
  a ``BEGIN IMMEDIATE`` one starts, so slow work before the write (a password hash, rendering a
  .docx) does not hold up the round's writers. The writes then see the latest committed data, as
  every statement does under PostgreSQL's READ COMMITTED, which requests already run under there.
- ``read_only`` (the board's live watcher, the health check): a plain deferred ``BEGIN``, never a lock.

How long a writer waits for the lock is SQLite's ``busy_timeout`` (``DEFAULT_BUSY_MS``) unless its
engine carries the execution option ``BUSY`` (milliseconds): ordinary requests wait a few seconds and
are then shed with a 503 (``admission.py``, issue 29.3), the queued writes (group commits, the
worker) and the priority requests keep the long wait. The option applies to the wait for the lock
only: the connection's own timeout is set back as soon as the lock is had (or refused).

Every other writer waits while one holds the lock, so a transaction that holds it for
``LONG_HOLD_SECONDS`` or more is logged (``sqlite.write_lock_held``, with the process, thread and
request route): the log names the long writers to split (load_tests/RESULTS.md, "SQLite soak").

PostgreSQL needs none of this; there the modes change nothing.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine, event
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, create_engine

from bcp_service.admission import PRIORITY, classify


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and route them through psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False, pool_timeout: float = 30.0) -> Engine:
    """``pool_timeout``: how long a checkout waits for a pooled connection (then ``sqlalchemy.exc.TimeoutError``)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        in_memory = not path or path == ":memory:" or url == "sqlite://"
        if not in_memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # An in-memory database has one connection per thread (SingletonThreadPool): no checkout to wait for.
        pooled = {} if in_memory else {"pool_timeout": pool_timeout}
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": DEFAULT_BUSY_MS / 1000},
            **pooled,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        event.listen(engine, "before_cursor_execute", _sqlite_before_execute)
        event.listen(engine, "commit", _sqlite_end)
        event.listen(engine, "rollback", _sqlite_end)
        reopen = {"before": 0.0}  # connections opened before this time are closed when they come back
        event.listen(engine, "handle_error", partial(_sqlite_error, reopen))
        event.listen(engine, "checkin", partial(_sqlite_checkin, reopen))
        return engine
    # hide_parameters: a failing statement's exception text would otherwise carry names and addresses.
    return create_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=pool_timeout,
    )


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin, so that
    # SAVEPOINTs (tests, nested units of work) behave as on PostgreSQL.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={DEFAULT_BUSY_MS}")
    cursor.close()


# SQLite errors after which the process's connections to the file are of no more use, though the
# driver does not call them disconnects: a file opened while it was read-only stays read-only (SQLite
# checks permissions when it opens the file), and for every connection of the process as long as one
# of them keeps it open (they share the file's lock and WAL index). So once someone fixes the
# permissions, or the disk, only a process that closed *all* its connections writes again: the pool
# is emptied, and connections in use are closed when they come back (issue 19, fault suite
# sqlite_read_only: a worker and an API started on a read-only file never wrote after it was fixed).
REOPEN_AFTER = ("attempt to write a readonly database", "disk i/o error", "unable to open database file")


def _sqlite_error(reopen: dict, context) -> None:
    if any(text in str(context.original_exception).lower() for text in REOPEN_AFTER):
        context.is_disconnect = True
        cursor = getattr(context.execution_context, "cursor", None)
        if cursor is not None:
            # An unfinalised statement keeps a closed sqlite3 connection, and the file, open until the
            # garbage collector gets to it (the exception's traceback holds the cursor).
            cursor.close()
        reopen["before"] = time.time()
        context.engine.dispose()  # closes the idle ones now; the rest at check-in (_sqlite_checkin)


def _sqlite_checkin(reopen: dict, dbapi_connection, record) -> None:
    if dbapi_connection is not None and record.starttime < reopen["before"]:
        record.invalidate()


DEFAULT_BUSY_MS = 30000
BUSY = "bcp_busy_ms"  # execution option: this engine's writers wait at most this long for SQLite's lock
MODE = "bcp_sqlite_mode"
MODES = ("immediate", "write_late", "read_only")
READ_PHASE = "bcp_read_phase"
# Statements that write, or need the write lock held from here on (a SAVEPOINT's writes must not be
# split from the transaction around them). WITH may start a write; taking the lock early is harmless.
WRITE_VERBS = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "SAVEPOINT", "CREATE", "DROP", "ALTER", "WITH"})


LOCKED_AT = "bcp_locked_at"
WRITER = "bcp_writer"
LONG_HOLD_SECONDS = 2.0
_PROCESS = " ".join(Path(arg).name for arg in sys.argv[:2])  # "bcp-service worker": no arguments past the command
log = logging.getLogger("bcp_service.db")


def _sqlite_begin(connection) -> None:
    options = connection.get_execution_options()
    mode = options.get(MODE, "immediate")
    if mode == "immediate":
        _lock_within(connection.exec_driver_sql, options.get(BUSY))  # through SQLAlchemy: its errors are wrapped
    else:
        connection.exec_driver_sql("BEGIN")
    if mode == "write_late":
        connection.info[READ_PHASE] = True
    elif mode == "immediate":
        connection.info[LOCKED_AT] = time.monotonic()


def _sqlite_before_execute(connection, cursor, statement, _parameters, context, _executemany) -> None:
    if not connection.info.get(READ_PHASE):
        return
    verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
    compiled = getattr(context, "compiled", None)
    locking = getattr(getattr(compiled, "statement", None), "_for_update_arg", None) is not None
    if verb in WRITE_VERBS or locking:
        connection.info[READ_PHASE] = False
        # End the read snapshot and start a write transaction that waits for the lock.
        cursor.execute("COMMIT")
        _lock_within(cursor.execute, connection.get_execution_options().get(BUSY))
        connection.info[LOCKED_AT] = time.monotonic()


def _lock_within(execute: Callable[[str], object], busy_ms: int | None) -> None:
    """``BEGIN IMMEDIATE``, waiting at most ``busy_ms`` for the lock when given (then "database is locked")."""
    if busy_ms is None:
        execute("BEGIN IMMEDIATE")
        return
    execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    try:
        execute("BEGIN IMMEDIATE")
    finally:
        execute(f"PRAGMA busy_timeout={DEFAULT_BUSY_MS}")


def _sqlite_end(connection) -> None:
    if connection.invalidated:  # replaced after an error (_sqlite_error): nothing of it is kept
        return
    connection.info.pop(READ_PHASE, None)
    locked_at = connection.info.pop(LOCKED_AT, None)
    writer = connection.info.pop(WRITER, None)
    if locked_at is not None and (held := time.monotonic() - locked_at) >= LONG_HOLD_SECONDS:
        log.warning(
            "sqlite.write_lock_held",
            extra={
                "seconds": round(held, 2),
                "command": _PROCESS,
                "writer_thread": threading.current_thread().name,
                "route": writer,
            },
        )


def read_only(engine: Engine) -> Engine:
    """The same engine (and pool) for work that never writes: on SQLite its transactions take no write lock."""
    return engine.execution_options(**{MODE: "read_only"})


def make_session_factory(
    engine: Engine, *, read_only: bool = False, mode: str | None = None, busy_seconds: float | None = None
) -> sessionmaker[Session]:
    """Sessions for units of work; ``mode`` and ``busy_seconds`` (SQLite only) as in this module's docstring."""
    mode = mode or ("read_only" if read_only else "immediate")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    options: dict = {} if mode == "immediate" else {MODE: mode}
    if busy_seconds is not None and engine.dialect.name == "sqlite":
        options[BUSY] = max(1, round(busy_seconds * 1000))
    bind = engine.execution_options(**options) if options else engine
    factory = sessionmaker(bind=bind, class_=Session, expire_on_commit=False, autoflush=True)
    if engine.dialect.name == "sqlite":
        event.listen(factory, "after_begin", _name_writer)
    return factory


def _name_writer(session: Session, _transaction, connection) -> None:
    if "route" in session.info:  # for sqlite.write_lock_held
        connection.info[WRITER] = session.info["route"]


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
    """Open a session for one request; commit on success, roll back on any error.

    An ordinary request waits for SQLite's write lock only as long as it would wait to be admitted
    (``admission.py``); a priority one (a nurse's result) as long as the queued writes."""
    state = request.app.state
    factory = getattr(state, "request_session_factory", None) or state.session_factory
    if classify(request.method, request.url.path) == PRIORITY:
        factory = getattr(state, "priority_session_factory", None) or factory
    with unit_of_work(factory) as session:
        route = request.scope.get("route")
        session.info["route"] = f"{request.method} {getattr(route, 'path', '?')}"  # the template: ids, never a query
        yield session


# "function" scope: the commit runs before the response is sent. FastAPI's default runs a yield
# dependency's exit code after the response, so a client (or Twilio) got 200 for a write whose
# commit could still fail, and row locks were held while the response went out.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
