"""The HTTP application: the partner API (``/v1``), the consent portal (``/consent``) and the admin pages.

``create_app(settings)`` builds the services at start-up (a broken policy file or missing key stops
it with a one-line error) and, unless a Redis queue is configured, runs the job consumer inside
the server process. Errors become JSON ``{"error": {code, message, reasons, policy_version}}``
with the status each error class names; nothing else leaks (no tracebacks, no key material).

    $ likeness serve --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from audit import AuditKind
from gateway.api import error_response
from gateway.api import router as api_router
from gateway.edge import Edge, edge_key
from gateway.playground import router as playground_router
from gateway.runtime import Runtime
from gateway.sessions_api import router as sessions_router
from gateway.settings import Settings
from generations import Recovery
from likeness import LikenessError, __version__
from media import Sandbox

logger = logging.getLogger("likeness.http")

def create_app(settings: Settings, *, runtime: Runtime | None = None, run_jobs: bool | None = None) -> FastAPI:
    """The ASGI app. ``run_jobs`` (default: when no Redis queue is set) runs the job consumer in-process."""
    if run_jobs is None:
        run_jobs = settings.run_jobs if settings.run_jobs is not None else not settings.redis_url
    embedded = run_jobs
    rt = runtime or Runtime.build(settings, with_worker=embedded)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # the media sandbox's forkserver starts now, beside the rest of start-up, not in the first upload
        threading.Thread(target=Sandbox().warm_up, name="sandbox-warm-up", daemon=True).start()
        if embedded and rt.worker is None:
            rt.attach_worker()
        consumer = recovery = None
        if embedded:
            consumer = rt.queue.consumer(workers=1, embedded=True)
            consumer.start()
            assert rt.worker is not None
            recovery = Recovery(rt.worker.recover, rt.queue.enqueue, every_s=settings.recover_every_s)
            recovery.start()
        jobs = f"in-process, {rt.queue.backend} queue" if embedded else f"{rt.queue.backend} queue, external workers"
        logger.info("likeness %s serving (jobs: %s)", __version__, jobs)
        try:
            yield
        finally:
            if recovery is not None:
                recovery.stop()
            if consumer is not None:
                consumer.stop(graceful=True)

    app = FastAPI(
        title="Likeness", version=__version__, lifespan=lifespan,
        description="Responsible release of talking-face video: partner API, consent portal, audit review.",
        openapi_tags=[{"name": "partner API", "description": "Vetted partners: `Authorization: Bearer <api key>`."}],
    )
    app.state.runtime = rt
    key = edge_key(settings)
    app.include_router(api_router)
    app.include_router(sessions_router)
    _mount_portal(app, rt, pow_key=key)
    _mount_admin(app, settings)
    app.include_router(playground_router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.exception_handler(LikenessError)
    async def likeness_error(request: Request, exc: LikenessError) -> JSONResponse:
        return error_response(exc, request_id=getattr(request.state, "request_id", "-"))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg', 'invalid')}"
            for e in exc.errors()[:8])
        return JSONResponse({"error": {"code": "invalid_request", "message": problems or "invalid request",
                                       "reasons": [], "policy_version": None}}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": {"code": _http_code(exc.status_code), "message": str(exc.detail),
                                       "reasons": [], "policy_version": None}}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("request %s: unexpected %s", getattr(request.state, "request_id", "-"), type(exc).__name__)
        return JSONResponse({"error": {"code": "internal", "message": "internal error; the request id is in the "
                                       "X-Request-Id header", "reasons": [], "policy_version": None}},
                            status_code=500)

    # Authentication, rate limits and body caps before a body byte is read (gateway/edge.py); added before the
    # request log, so the log wraps it and its refusals are logged with a request id too.
    app.add_middleware(Edge, runtime=rt, key=key)

    @app.middleware("http")
    async def request_log(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        request.state.request_id = secrets.token_hex(8)
        started = time.perf_counter()
        response = await call_next(request)
        response.headers["X-Request-Id"] = request.state.request_id
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        logger.info("%s %s %s %d %.1fms partner=%s", request.state.request_id, request.method, request.url.path,
                    response.status_code, (time.perf_counter() - started) * 1000,
                    getattr(request.state, "partner_id", "-"))
        return response
    return app


def app_from_environment() -> FastAPI:
    """The app built from the environment's settings: the factory of each ``likeness serve --workers N`` process."""
    from gateway.settings import get_settings

    return create_app(get_settings())


def _http_code(status: int) -> str:
    return {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated", 403: "forbidden"}.get(
        status, f"http_{status}")


def _mount_portal(app: FastAPI, rt: Runtime, *, pow_key: bytes) -> None:
    """The consent portal's pages (``/consent``); grants, revocations and erasures go to the audit log, and a
    revocation or an erasure deletes the released videos of the consents it closed (``generations.retention``)."""
    from consent.portal import portal_router

    def on_event(kind: AuditKind, details: dict[str, Any]) -> None:
        data = dict(details)
        consent_id = data.pop("consent_id", None)
        try:
            rt.audit_log.append(kind, actor="subject", consent_id=consent_id, data=data)
        finally:  # the videos go even if the audit log cannot take the entry (that failure is logged)
            if kind in (AuditKind.CONSENT_REVOKED, AuditKind.CONSENT_ERASED) and consent_id is not None:
                rt.delete_outputs([consent_id, *details.get("consent_ids", ())], cause=kind)

    app.include_router(portal_router(
        registry=rt.registry, engine=rt.engine, identity=rt.identity, max_upload_bytes=rt.settings.max_upload_bytes,
        max_media_seconds=rt.settings.max_media_seconds, on_event=on_event,
        secure_cookies=rt.settings.environment == "production", pow_key=pow_key,
        pow_bits=rt.settings.portal_pow_bits, pow_ttl=timedelta(seconds=rt.settings.portal_pow_ttl_s),
        forensics=_statement_forensics(rt.settings)))


def _statement_forensics(settings: Settings) -> Any:
    """What the statement's ``not_synthetic`` check needs: the same key and anchors as ``detect``. What is missing
    is logged here, and the check then fails every statement saying so (it never passes unchecked)."""
    from consent import Forensics
    from gateway.deps import verifier_material

    anchors, key, notes = verifier_material(settings)
    for note in notes:
        logger.error("the consent statement's forensic check is not fully configured: %s", note)
    return Forensics(watermark_key=key, trust_anchors_pem=anchors)


def _mount_admin(app: FastAPI, settings: Settings) -> None:
    from gateway.admin import mount_admin

    mount_admin(app, settings)


__all__ = ["app_from_environment", "create_app"]
