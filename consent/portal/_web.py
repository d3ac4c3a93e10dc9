"""The portal's web plumbing: templates, security headers, cookies and CSRF protection.

Every page carries a Content-Security-Policy that allows no inline script or style and no
framing, ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store`` (pages can show a
management token). Every form POST must carry the CSRF value of the ``lk_portal_csrf`` cookie
(HttpOnly, SameSite=Strict) in its ``csrf`` field, and an ``Origin`` header, when the browser
sends one, must be this site's own (or ``null``, which browsers send under ``no-referrer``).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "portal"
STATIC = Path(__file__).resolve().parent.parent / "static" / "portal"
PREFIX = "/consent"
CSRF_COOKIE = "lk_portal_csrf"
DRAFT_COOKIE = "lk_portal_draft"
SESSION_COOKIE = "lk_portal_session"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
       "media-src 'self' blob: mediastream:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=(), payment=()",
}


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["utc"] = lambda moment: "—" if moment is None else moment.strftime("%d %b %Y, %H:%M UTC")
    env.filters["hhmm"] = lambda moment: moment.strftime("%H:%M UTC")
    return env


class PortalRoute(APIRoute):
    """A route whose responses all carry the security headers (and no-store unless they set their own cache)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            response = await original(request)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return handler


class Pages:
    """Renders the portal's templates with the CSRF value, and sets the portal's cookies."""

    def __init__(self, *, secure_cookies: bool) -> None:
        self.env = environment()
        self.secure = secure_cookies

    def render(self, request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        csrf = request.cookies.get(CSRF_COOKIE)
        fresh = not _valid_csrf_value(csrf)
        if fresh:
            csrf = secrets.token_urlsafe(32)
        context.setdefault("error", None)
        context.setdefault("errors", [])
        context.setdefault("notice", None)
        html = self.env.get_template(template).render(csrf=csrf, prefix=PREFIX, **context)
        response = HTMLResponse(html, status_code=status)
        if fresh:
            self.set_cookie(response, CSRF_COOKIE, str(csrf), max_age=None)
        return response

    def set_cookie(self, response: Response, name: str, value: str, *, max_age: int | None) -> None:
        response.set_cookie(name, value, max_age=max_age, path=PREFIX, secure=self.secure, httponly=True,
                            samesite="strict")

    def clear_cookie(self, response: Response, name: str) -> None:
        response.delete_cookie(name, path=PREFIX, secure=self.secure, httponly=True, samesite="strict")


def _valid_csrf_value(value: str | None) -> bool:
    return isinstance(value, str) and 40 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum()


def csrf_ok(request: Request, submitted: object) -> bool:
    """The form's ``csrf`` field equals the CSRF cookie, and the request came from this site (Origin)."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if not _valid_csrf_value(cookie) or not isinstance(submitted, str):
        return False
    if not hmac.compare_digest(cookie.encode(), submitted.encode()):  # type: ignore[union-attr]
        return False
    # With Referrer-Policy no-referrer a browser sends "Origin: null" even for its own site's forms
    # (Fetch standard); any other origin than ours is refused.
    origin = request.headers.get("origin")
    if origin is not None and origin != "null" and origin != f"{request.url.scheme}://{request.url.netloc}":
        return False
    return True
