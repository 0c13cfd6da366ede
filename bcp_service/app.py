"""The FastAPI application factory."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from bcp_service import heartbeat, lanes, webhook_doors
from bcp_service.admission import AdmissionMiddleware, default_limit, is_busy
from bcp_service.answers.review_routes import router as review_router
from bcp_service.answers.routes import router as answers_router
from bcp_service.audit import deferred as audit_deferred
from bcp_service.audit.accounts import record_account_change
from bcp_service.audit.routes import router as audit_router
from bcp_service.audit.service import record as audit_record
from bcp_service.auth import account_events, assignments
from bcp_service.auth import events as credential_events
from bcp_service.auth.deps import Access
from bcp_service.auth.routes import router as auth_router
from bcp_service.bcp.pages import router as bcp_pages_router
from bcp_service.bcp.routes import router as bcp_router
from bcp_service.board.routes import router as board_router
from bcp_service.config import Settings, get_settings
from bcp_service.db import make_engine, make_session_factory
from bcp_service.db import unit_of_work as transaction
from bcp_service.db_outage import DatabaseWait, database_wrote, is_outage
from bcp_service.errors import ServiceError
from bcp_service.escalation.routes import router as escalation_router
from bcp_service.exports.routes import router as exports_router
from bcp_service.imports.routes import router as imports_router
from bcp_service.nurse.routes import api_router as nurse_api_router
from bcp_service.nurse.routes import router as nurse_router
from bcp_service.ops import health
from bcp_service.ops.pages import router as ops_pages_router
from bcp_service.ops.routes import router as ops_router
from bcp_service.outages.routes import router as outages_router
from bcp_service.ratelog import RepeatLog, set_interval
from bcp_service.registry.routes import router as registry_router
from bcp_service.rounds.routes import router as rounds_router
from bcp_service.rounds.scope import assigned_in_open_round
from bcp_service.schedules.routes import router as schedules_router
from bcp_service.security import SecurityMiddleware
from bcp_service.triggers.routes import router as triggers_router
from bcp_service.web.docs import install_docs
from bcp_service.web.errors import (
    API_PREFIXES,
    busy_response,
    error_page,
    server_error,
    too_large,
    validation_page,
    wants_page,
)
from bcp_service.web.page_routers import PAGE_ROUTERS
from bcp_service.web.routes import router as web_router
from bcp_service.webhooks.journal import journal_for
from bcp_service.webhooks.routes import router as webhooks_router
from bcp_service.webhooks.voice import router as voice_router

log = logging.getLogger("bcp_service")
quiet_log = RepeatLog(log)  # quiet (issue 28.4): one line per cause per interval


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = engine or make_engine(settings.database_url, pool_timeout=settings.db_pool_timeout_seconds)
    app = FastAPI(
        title="bcp-service",
        version="0.1.0",
        description="在宅人工呼吸器・在宅酸素療法患者の登録、BCP作成支援、災害時安否確認",
        docs_url=None,
        redoc_url=None,  # served offline by web.docs
    )
    app.state.settings = settings
    app.state.engine = engine
    set_interval(settings.log_repeat_interval_seconds)  # quiet (issue 28.4)
    app.state.session_factory = make_session_factory(engine)
    # A request's session takes SQLite's write lock only from its first write (db.py).
    # shed (issue 29.3): an ordinary request waits for it a bounded time, then is answered 503 (admission.py);
    # a priority one (a nurse's result) waits as long as the queued writes.
    app.state.request_session_factory = make_session_factory(
        engine, mode="write_late", busy_seconds=settings.shed_wait_seconds
    )
    app.state.priority_session_factory = make_session_factory(engine, mode="write_late")
    # Units whose wait for SQLite's write lock is bounded (shed_wait_seconds, issue 29.3): a credential's
    # "last used" touch, best effort, before the route runs, so the request's session takes no write lock
    # for it (the /ops bug: auth/deps.py); the system status's write probe (ops/status.py).
    app.state.short_unit_of_work = partial(
        transaction, make_session_factory(engine, busy_seconds=settings.shed_wait_seconds)
    )
    # Work that never writes (the board's live watcher): on SQLite it takes no write lock (db.py).
    app.state.read_session_factory = make_session_factory(engine, read_only=True)
    # Units of work opened outside the request's own session (group commits): tests put theirs here.
    app.state.unit_of_work = partial(transaction, app.state.session_factory)
    # Batched reads (group commits with writes=False): without it each batch took SQLite's write lock
    # (BEGIN IMMEDIATE) and queued behind every writer, up to 9.8 s in the SQLite soak.
    app.state.read_unit_of_work = partial(transaction, app.state.read_session_factory)
    app.state.writers = {}
    lanes.bind(app.state.read_session_factory)  # chan (issue 26.1): the staff pages' banner of paused lanes
    # Audit rows a refusing database could not take (issue 28.2) are kept here and appended later.
    audit_deferred.configure(Path(settings.data_dir) / "audit-deferred")
    # Nurses also see the patients assigned to them in an open round: wired here, not by an import's
    # side effect (auth must not import rounds; registering twice is a no-op).
    assignments.register(assigned_in_open_round)
    credential_events.register(audit_record)  # issue 23.2: credential events in the audit log (auth is below audit)
    # Account changes go to the audit log (auth must not import audit).
    account_events.register(record_account_change)

    # The routes a disaster floods go first: FastAPI tries routes in order, and matching a path against
    # every other route cost a webhook a seventh of its CPU (load_tests/RESULTS.md, "Disaster burst").
    for router in (webhooks_router, answers_router):
        app.include_router(router)
    for router in (
        auth_router,
        registry_router,
        audit_router,
        web_router,
        imports_router,
        exports_router,
        bcp_router,
        bcp_pages_router,
    ):
        app.include_router(router)
    app.include_router(rounds_router)
    app.include_router(review_router)
    for router in PAGE_ROUTERS:
        app.include_router(router)
    for router in (board_router, nurse_router, nurse_api_router):
        app.include_router(router)
    app.router.on_shutdown.append(_close_live(app))
    for router in (schedules_router, triggers_router, outages_router, escalation_router, voice_router):
        app.include_router(router)
    app.include_router(ops_router)  # ops: system status, metrics, the operator's page
    app.include_router(ops_pages_router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    install_docs(app)
    _install_error_handlers(app)
    # shed (issue 29.3): inside the security headers, so a 503 carries them too.
    app.add_middleware(
        AdmissionMiddleware,
        limit=settings.shed_max_requests or default_limit(engine.dialect.name, _pool_size(engine)),
        wait_seconds=settings.shed_wait_seconds,
        retry_after=settings.shed_retry_after_seconds,
        reject=busy_response,
    )
    app.add_middleware(SecurityMiddleware, settings=settings, server_error=server_error, too_large=too_large)
    if settings.trusted_proxies.strip():  # wall (issue 23): outermost, so every layer sees the real client
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)

    api_instance = heartbeat.new_instance_id("api")
    api_database = DatabaseWait("api-health")

    @app.get("/healthz", tags=["health"], dependencies=[Depends(Access(public="load balancer health check"))])
    def healthz():
        # A write that needs new space, not only a read or an update in place: a read-only or full SQLite
        # file, a PostgreSQL standby, or a full tablespace answers SELECT 1 (and may rewrite a heartbeat row
        # in place) but records no answer (issues 19 and 28). The probe is rolled back; the beat is kept.
        try:
            with app.state.unit_of_work() as session:
                heartbeat.write_beat(session, instance_id=api_instance, name="api")
                health.probe_database(session, min_free_mb=settings.health_min_free_mb)
        except Exception as exc:
            if not isinstance(exc, DBAPIError | health.DiskLow):  # the probe is fixed SQL: any refusal is a finding
                raise
            if is_outage(exc):  # a standby's read-only refusal is a finding here, not a loop's outage
                api_database.note(exc)
            log.warning("healthz.database_unwritable", extra={"error": type(exc).__name__})
            return JSONResponse(
                status_code=503,
                content={
                    "status": "unavailable",
                    "database": engine.dialect.name,
                    "database_writable": False,
                    "journal": health.check_journal(journal_for(app), min_free_mb=settings.health_min_free_mb).public(),
                    "webhooks_refused": webhook_doors.refused_count(),
                    "detail": "データベースに書き込めません (the database cannot be written)",
                },
            )
        database_wrote()
        if audit_deferred.pending():  # the database writes again: the audit rows kept meanwhile join the chain
            try:
                audit_deferred.replay(app.state.unit_of_work)
            except DBAPIError as exc:
                log.warning("audit.deferred_append_failed", extra={"error": type(exc).__name__})
        journal = health.check_journal(journal_for(app), min_free_mb=settings.health_min_free_mb)
        # The database takes the writes, so nothing needs the journal now: still in service, but said.
        return {
            "status": "ok" if journal.writable else "degraded",
            "database": engine.dialect.name,
            "database_writable": True,
            "journal": journal.public(),
            "webhooks_refused": webhook_doors.refused_count(),
            **(
                {}
                if journal.writable
                else {"detail": "受信記録（ジャーナル）に書き込めません (the webhook journal cannot be written)"}
            ),
        }

    return app


def _close_live(app: FastAPI):
    async def close() -> None:
        # Ends the board's event streams and its LISTEN connection with the process.
        hub = getattr(app.state, "live", None)
        if hub is not None:
            hub.close()

    return close


def _install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Exception, server_error)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError):
        if exc.status_code == 404 and wants_page(request):
            return error_page(404)
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.to_detail()}, headers=exc.headers)

    @app.exception_handler(IntegrityError)
    async def integrity_error(_request: Request, exc: IntegrityError) -> JSONResponse:
        # A race past the service's own checks; the constraint name is enough to act on.
        log.warning("db.integrity_error", extra={"constraint": type(exc.orig).__name__})
        return JSONResponse(
            status_code=409,
            content={
                "detail": [
                    {"loc": [], "msg": "データの整合性に反します (conflicts with existing data)", "type": "conflict"}
                ]
            },
        )

    retry_after = app.state.settings.shed_retry_after_seconds

    @app.exception_handler(PoolTimeoutError)
    async def pool_timeout(request: Request, exc: PoolTimeoutError):
        # shed (issue 29.3): no pooled connection free within db_pool_timeout_seconds: busy, not broken.
        quiet_log.warning("http.shed", cause="pool_timeout")
        return busy_response(request.url.path, retry_after)

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError):
        if is_busy(exc):  # shed (issue 29.3): SQLite's write lock not had within shed_wait_seconds
            quiet_log.warning("http.shed", cause="database_locked")
            return busy_response(request.url.path, retry_after)
        # ops: an outage met before the route could say so itself (the caller's token is read from the
        # database): 503 naming the database, never a generic 500 (issue 28). Other driver errors are bugs.
        if not is_outage(exc):
            raise exc  # to the server-error handler, which logs the traceback
        # quiet (issue 28.4): an outage is one line per cause per interval with a count, not a traceback
        # per request; a page says the database is the problem (503), not a generic system error.
        quiet_log.warning("http.database_unavailable", cause=type(exc).__name__, extra={"error": type(exc).__name__})
        if not request.url.path.startswith(API_PREFIXES):
            return error_page(503)
        return JSONResponse(
            status_code=503,
            content={
                "detail": "データベースに接続できないか書き込めません (database unavailable)",
                "down": [{"part": "database", "state": "unavailable"}],
            },
        )

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def out_of_range(_request: Request, exc: Exception) -> JSONResponse:
        # An integer beyond the columns' range (SQLite: past 64 bits; PostgreSQL: past the column type)
        # in a path, query or body: the caller's mistake, never a 500.
        log.info("http.value_out_of_range", extra={"error": type(exc).__name__})
        return JSONResponse(
            status_code=422,
            content={
                "detail": [
                    {"loc": [], "msg": "数値が大きすぎるか範囲外です (number out of range)", "type": "value_error"}
                ]
            },
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 401 and not request.url.path.startswith(API_PREFIXES):
            # A person opening a page: send them to the login form and back.
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        if exc.status_code in (403, 404, 405) and wants_page(request):
            message = exc.detail if exc.status_code == 403 and isinstance(exc.detail, str) else None
            return error_page(exc.status_code, message, headers=getattr(exc, "headers", None))
        return JSONResponse(
            status_code=exc.status_code, content={"detail": exc.detail}, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        if wants_page(request):  # a person at a form: a Japanese page naming the field
            return validation_page(exc.errors())
        # FastAPI's default echoes the input; drop it so personal data is not reflected into logs/proxies.
        detail = [
            {"loc": list(e.get("loc", [])), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        return JSONResponse(status_code=422, content={"detail": detail})


def _pool_size(engine) -> int:
    """The pool's size (QueuePool: a method; an in-memory SQLite's SingletonThreadPool: an int; else 5)."""
    size = getattr(engine.pool, "size", None)
    if callable(size):
        size = size()
    return size if isinstance(size, int) and size > 0 else 5
