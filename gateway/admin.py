"""``/admin``: trust & safety reviewers search, verify and export the audit log, and review partners and jobs.

Admin credentials are separate from partner keys (``likeness admin add NAME [--expires-in 90d]``
prints an ``lka_…`` token once; every token expires): a partner key never opens an admin route,
and an admin token never calls the partner API. The JSON routes under ``/admin/api`` take
``Authorization: Bearer lka_…`` (a revoked or expired token: 401).

Pages take the token once through the login form, which starts a server-side session
(``admin_sessions``): the ``likeness_admin`` cookie (HttpOnly, SameSite=Strict, Path=/admin,
Secure in production or over HTTPS) holds only the session's random 256-bit id, the database
only its SHA-256. Every request re-checks the session: it ends at logout (deleted server-side,
so a replayed cookie is refused), after ``LIKENESS_ADMIN_SESSION_IDLE_MINUTES`` without a
request, ``LIKENESS_ADMIN_SESSION_LIFETIME_HOURS`` after login, or when its token is revoked or
expires. Every state-changing form carries a CSRF value that is an HMAC keyed by the session id
(another session's value is refused) and must come from this site (``Origin`` exactly ours,
``Origin: null`` refused; see ``consent.portal.from_this_site``). Every admin action is written
to the audit log.

For code outside the routes (the edge's auth-before-body check)::

    admin_session_valid(runtime, request.cookies.get(COOKIE))   # -> bool; never raises for a bad cookie
"""

from __future__ import annotations

import hashlib
import hmac
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates

from audit import AuditEntryPublic, AuditKind, VerifyReport
from consent.portal import from_this_site
from gateway.api import ERRORS
from gateway.runtime import Runtime
from gateway.settings import Settings
from generations import Refusal
from likeness import LikenessError
from partners import AdminPublic, AuthenticationError

COOKIE = "likeness_admin"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates" / "admin"))
PAGE = 50
KINDS = [k.value for k in AuditKind]
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # browsers then send our Origin on our forms ("null" under no-referrer)
}


def _rt(request: Request) -> Runtime:
    return request.app.state.runtime


def _csrf(session_id: str) -> str:
    """The CSRF value of one admin session: an HMAC keyed by its (secret, random) id."""
    return hmac.new(session_id.encode(), b"likeness/admin-csrf/v2", hashlib.sha256).hexdigest()


def _idle(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.admin_session_idle_minutes)


def admin_session_valid(runtime: Runtime, cookie_value: str | None) -> bool:
    """Whether ``cookie_value`` (the ``likeness_admin`` cookie) names a live admin session.

    Live: signed in, not logged out, within the idle timeout and the absolute lifetime, and its
    admin token neither revoked nor expired. Read-only (does not count as activity) and never
    raises for a missing or malformed cookie; a database failure raises (fail closed upstream).
    """
    if not cookie_value:
        return False
    try:
        runtime.partners.admin_session(cookie_value, idle=_idle(runtime.settings), touch=False)
    except AuthenticationError:
        return False
    return True


admin_bearer = HTTPBearer(auto_error=False, scheme_name="AdminToken",
                          description="An admin token (lka_…), shown once by `likeness admin add`.")


def api_admin(request: Request,
              credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)]) -> AdminPublic:
    """The admin behind ``Authorization: Bearer lka_…`` (partner keys are refused: 401)."""
    if credentials is None or not credentials.credentials:
        raise Refusal("admin routes need 'Authorization: Bearer <admin token>'", status=401, code="unauthenticated")
    return _rt(request).partners.authenticate_admin(credentials.credentials.strip())


class _LoginNeeded(Exception):
    pass


def page_admin(request: Request) -> tuple[AdminPublic, str]:
    """The admin of the request's live session and the session's CSRF value; else back to the login page."""
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        raise _LoginNeeded()
    rt = _rt(request)
    try:
        return rt.partners.admin_session(session_id, idle=_idle(rt.settings)), _csrf(session_id)
    except AuthenticationError as exc:
        raise _LoginNeeded() from exc


PageAdmin = Annotated[tuple[AdminPublic, str], Depends(page_admin)]
ApiAdmin = Annotated[AdminPublic, Depends(api_admin)]


def _page(request: Request, name: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    response = TEMPLATES.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(HEADERS)
    return response


def _check_csrf(request: Request, csrf: str, expected: str) -> None:
    if not hmac.compare_digest(csrf.encode("utf-8", "replace"), expected.encode()) or not from_this_site(request):
        raise Refusal("the form is stale or was not sent from the admin pages; reload and try again", status=403,
                      code="csrf")


def _log(rt: Runtime, admin: AdminPublic, action: str, **data: Any) -> None:
    rt.audit_log.append(AuditKind.ADMIN_ACTION, actor=f"admin:{admin.name}", data={"action": action, **data},
                        partner=data.get("partner"))


def _when(text: str | None, what: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise Refusal(f"{what} is not a date or time (YYYY-MM-DD or ISO 8601)", status=422, code="invalid_request") \
            from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


router = APIRouter(prefix="/admin", include_in_schema=False)
api = APIRouter(prefix="/admin/api", tags=["admin"], responses=ERRORS)


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    try:
        admin, csrf = page_admin(request)
    except _LoginNeeded:
        return _page(request, "login.html", {"error": None})
    rt = _rt(request)
    latest = rt.audit_log.latest_checkpoint()
    return _page(request, "home.html", {
        "admin": admin, "csrf": csrf, "size": rt.audit_log.size(), "latest": latest,
        "jobs": rt.jobs.all_statuses(), "partners": rt.partners.list(), "kinds": KINDS})


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, token: Annotated[str, Form(max_length=200)]) -> Response:
    if not from_this_site(request):
        raise Refusal("the sign-in form was not sent from the admin pages", status=403, code="csrf")
    rt = _rt(request)
    lifetime = timedelta(hours=rt.settings.admin_session_lifetime_hours)
    try:
        admin, session_id = rt.partners.start_admin_session(token.strip(), lifetime=lifetime)
    except LikenessError:
        return _page(request, "login.html", {"error": "That admin token is not valid (or was revoked, or has "
                                                      "expired)."}, status=401)
    response = RedirectResponse("/admin", status_code=303)
    response.set_cookie(COOKIE, session_id, httponly=True, samesite="strict", path="/admin",
                        secure=rt.settings.environment == "production" or request.url.scheme == "https",
                        max_age=int(lifetime.total_seconds()))
    _log(rt, admin, "login")
    return response


@router.post("/logout")
def logout(request: Request, who: PageAdmin, csrf: Annotated[str, Form()]) -> Response:
    _check_csrf(request, csrf, who[1])
    rt = _rt(request)
    rt.partners.end_admin_session(request.cookies.get(COOKIE))
    _log(rt, who[0], "logout")
    response = RedirectResponse("/admin", status_code=303)
    response.delete_cookie(COOKIE, path="/admin", httponly=True, samesite="strict",
                           secure=rt.settings.environment == "production" or request.url.scheme == "https")
    return response


@router.get("/audit", response_class=HTMLResponse)
def audit_search(
    request: Request, who: PageAdmin,
    kind: Annotated[str | None, Query()] = None, partner: Annotated[str | None, Query(max_length=100)] = None,
    consent: Annotated[str | None, Query(max_length=64)] = None,
    generation: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> Response:
    rt = _rt(request)
    if kind and kind not in KINDS:
        raise Refusal(f"unknown kind {kind!r}", status=422, code="invalid_request")
    entries = rt.audit_log.search(
        kind=AuditKind(kind) if kind else None, partner=partner or None, consent_id=consent or None,
        generation_id=generation or None, since=_when(since, "since"), until=_when(until, "until"),
        limit=PAGE, offset=(page - 1) * PAGE, newest_first=True)
    return _page(request, "audit.html", {
        "admin": who[0], "csrf": who[1], "entries": entries, "kinds": KINDS, "page": page, "more": len(entries) == PAGE,
        "q": {"kind": kind or "", "partner": partner or "", "consent": consent or "", "generation": generation or "",
              "since": since or "", "until": until or ""}})


@router.get("/audit/{index}", response_class=HTMLResponse)
def audit_entry(request: Request, who: PageAdmin, index: Annotated[int, PathParam(ge=0)]) -> Response:
    rt = _rt(request)
    entry = rt.audit_log.get(index)
    proof = rt.audit_log.inclusion_proof(index)
    return _page(request, "entry.html", {"admin": who[0], "csrf": who[1], "entry": entry, "proof": proof,
                                         "proof_ok": proof.verifies()})


@router.post("/audit/verify", response_class=HTMLResponse)
def audit_verify(request: Request, who: PageAdmin, csrf: Annotated[str, Form()]) -> Response:
    _check_csrf(request, csrf, who[1])
    rt = _rt(request)
    report: VerifyReport = rt.audit_log.verify()
    _log(rt, who[0], "audit.verify", ok=report.ok, entries=report.entries, first_bad_index=report.first_bad_index)
    return _page(request, "verify.html", {"admin": who[0], "csrf": who[1], "report": report},
                 status=200 if report.ok else 409)


@router.post("/audit/checkpoint")
def audit_checkpoint(request: Request, who: PageAdmin, csrf: Annotated[str, Form()]) -> Response:
    _check_csrf(request, csrf, who[1])
    rt = _rt(request)
    checkpoint = rt.audit_log.checkpoint()
    _log(rt, who[0], "audit.checkpoint", tree_size=checkpoint.tree_size, root_hash=checkpoint.root_hash)
    return RedirectResponse("/admin", status_code=303)


@router.get("/audit.jsonl")
def audit_export(request: Request, who: PageAdmin) -> Response:
    rt = _rt(request)
    buffer = io.StringIO()
    checkpoint = rt.audit_log.export(buffer)
    _log(rt, who[0], "audit.export", tree_size=checkpoint.tree_size)
    return Response(buffer.getvalue(), media_type="application/x-ndjson", headers={
        **HEADERS, "Content-Disposition": f'attachment; filename="likeness-audit-{checkpoint.tree_size}.jsonl"'})


@router.post("/partners/{name}/suspend")
def suspend_partner(request: Request, who: PageAdmin, name: Annotated[str, PathParam(max_length=100)],
                    csrf: Annotated[str, Form()],
                    reason: Annotated[str, Form(min_length=3, max_length=300)]) -> Response:
    _check_csrf(request, csrf, who[1])
    rt = _rt(request)
    partner = rt.partners.suspend(name, reason=reason)
    rt.audit_log.append(AuditKind.PARTNER_SUSPENDED, actor=f"admin:{who[0].name}", partner=partner.id,
                        data={"reason": reason})
    return RedirectResponse("/admin", status_code=303)


@router.post("/partners/{name}/reinstate")
def reinstate_partner(request: Request, who: PageAdmin, name: Annotated[str, PathParam(max_length=100)],
                      csrf: Annotated[str, Form()]) -> Response:
    _check_csrf(request, csrf, who[1])
    rt = _rt(request)
    partner = rt.partners.reinstate(name)
    rt.audit_log.append(AuditKind.PARTNER_REINSTATED, actor=f"admin:{who[0].name}", partner=partner.id, data={})
    return RedirectResponse("/admin", status_code=303)


# ---------------------------------------------------------------------- JSON


@api.get("/audit", response_model=list[AuditEntryPublic])
def api_audit(request: Request, admin: ApiAdmin,
              kind: Annotated[AuditKind | None, Query()] = None,
              partner: Annotated[str | None, Query(max_length=100)] = None,
              consent_id: Annotated[str | None, Query(max_length=64)] = None,
              generation_id: Annotated[str | None, Query(max_length=64)] = None,
              limit: Annotated[int, Query(ge=1, le=500)] = 100,
              offset: Annotated[int, Query(ge=0, le=10**12)] = 0,
              ) -> list[AuditEntryPublic]:
    """Search the audit log (admin token)."""
    return _rt(request).audit_log.search(kind=kind, partner=partner, consent_id=consent_id,
                                         generation_id=generation_id, limit=limit, offset=offset)


@api.get("/audit/verify", response_model=VerifyReport)
def api_verify(request: Request, admin: ApiAdmin) -> VerifyReport:
    """Verify the whole log now (admin token)."""
    rt = _rt(request)
    report = rt.audit_log.verify()
    _log(rt, admin, "audit.verify", ok=report.ok, entries=report.entries, first_bad_index=report.first_bad_index)
    return report


@api.get("/generations/{generation_id}")
def api_generation(request: Request, admin: ApiAdmin,
                   generation_id: Annotated[str, PathParam(pattern=r"^gen_[0-9a-f]{16}$")]) -> dict[str, Any]:
    """Any partner's job, for review (admin token)."""
    job = _rt(request).jobs.get(generation_id)
    if job is None:
        raise Refusal(f"no generation {generation_id}", status=404, code="not_found")
    return job.model_dump(mode="json")


@router.get("/admin.css")
def stylesheet() -> Response:
    css = (Path(__file__).parent / "templates" / "admin" / "admin.css").read_text()
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


def mount_admin(app: FastAPI, settings: Settings) -> None:
    app.include_router(router)
    app.include_router(api)

    @app.exception_handler(_LoginNeeded)
    async def login_needed(request: Request, exc: _LoginNeeded) -> Response:
        return RedirectResponse("/admin", status_code=303)


__all__ = ["COOKIE", "admin_session_valid", "mount_admin"]
