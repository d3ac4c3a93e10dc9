"""``/admin``: trust & safety reviewers search, verify and export the audit log, and review partners and jobs.

Admin credentials are separate from partner keys (``likeness admin add NAME`` prints an
``lka_…`` token once): a partner key never opens an admin route, and an admin token never
calls the partner API. Pages take the token once through a login form and keep it in an
HttpOnly, SameSite=Strict cookie scoped to ``/admin`` (every request re-checks it against the
database, so revoking the token ends the session at once); the JSON routes under
``/admin/api`` take ``Authorization: Bearer lka_…``. Every state-changing form carries a CSRF
token bound to the session, and every admin action is itself written to the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates

from audit import AuditEntryPublic, AuditKind, VerifyReport
from gateway.api import ERRORS
from gateway.gate import Refusal
from gateway.partners import AdminPublic, AuthenticationError
from gateway.runtime import Runtime
from gateway.settings import Settings
from likeness import LikenessError

COOKIE = "likeness_admin"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates" / "admin"))
PAGE = 50
KINDS = [k.value for k in AuditKind]
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _rt(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def _csrf(token: str) -> str:
    return hmac.new(token.encode(), b"likeness-admin-csrf", hashlib.sha256).hexdigest()


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
    token = request.cookies.get(COOKIE)
    if not token:
        raise _LoginNeeded()
    try:
        return _rt(request).partners.authenticate_admin(token), _csrf(token)
    except AuthenticationError as exc:
        raise _LoginNeeded() from exc


PageAdmin = Annotated[tuple[AdminPublic, str], Depends(page_admin)]
ApiAdmin = Annotated[AdminPublic, Depends(api_admin)]


def _page(request: Request, name: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    response = TEMPLATES.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(HEADERS)
    return response


def _check_csrf(csrf: str, expected: str) -> None:
    if not hmac.compare_digest(csrf, expected):
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
    try:
        admin = _rt(request).partners.authenticate_admin(token.strip())
    except LikenessError:
        return _page(request, "login.html", {"error": "That admin token is not valid (or was revoked)."}, status=401)
    response = RedirectResponse("/admin", status_code=303)
    response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict", path="/admin",
                        secure=request.url.scheme == "https", max_age=8 * 3600)
    _log(_rt(request), admin, "login")
    return response


@router.post("/logout")
def logout(request: Request, who: PageAdmin, csrf: Annotated[str, Form()]) -> Response:
    _check_csrf(csrf, who[1])
    response = RedirectResponse("/admin", status_code=303)
    response.delete_cookie(COOKIE, path="/admin")
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
    filters = {"kind": kind or None, "partner": partner or None, "consent_id": consent or None,
               "generation_id": generation or None, "since": _when(since, "since"), "until": _when(until, "until")}
    if filters["kind"] is not None and filters["kind"] not in KINDS:
        raise Refusal(f"unknown kind {kind!r}", status=422, code="invalid_request")
    entries = rt.audit_log.search(**filters, limit=PAGE, offset=(page - 1) * PAGE, newest_first=True)
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
    _check_csrf(csrf, who[1])
    rt = _rt(request)
    report: VerifyReport = rt.audit_log.verify()
    _log(rt, who[0], "audit.verify", ok=report.ok, entries=report.entries, first_bad_index=report.first_bad_index)
    return _page(request, "verify.html", {"admin": who[0], "csrf": who[1], "report": report},
                 status=200 if report.ok else 409)


@router.post("/audit/checkpoint")
def audit_checkpoint(request: Request, who: PageAdmin, csrf: Annotated[str, Form()]) -> Response:
    _check_csrf(csrf, who[1])
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
    _check_csrf(csrf, who[1])
    rt = _rt(request)
    partner = rt.partners.suspend(name, reason=reason)
    rt.audit_log.append(AuditKind.PARTNER_SUSPENDED, actor=f"admin:{who[0].name}", partner=partner.id,
                        data={"reason": reason})
    return RedirectResponse("/admin", status_code=303)


@router.post("/partners/{name}/reinstate")
def reinstate_partner(request: Request, who: PageAdmin, name: Annotated[str, PathParam(max_length=100)],
                      csrf: Annotated[str, Form()]) -> Response:
    _check_csrf(csrf, who[1])
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


__all__ = ["mount_admin"]
