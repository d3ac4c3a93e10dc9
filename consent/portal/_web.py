"""The portal's web plumbing: templates, security headers, cookies and CSRF protection.

Every page carries a Content-Security-Policy that allows no inline script or style and no
framing, ``Referrer-Policy: same-origin`` and ``Cache-Control: no-store`` (pages can show a
management token).

CSRF: every form POST carries a ``csrf`` value that is an HMAC keyed by the secrets of the
browser's portal cookies, all HttpOnly and SameSite=Strict: the ``lk_portal_csrf`` nonce, and the
draft's and the management session's cookie secrets when the browser holds them
(:func:`csrf_token`). The server stores none of those secrets, so the value is bound to this
browser's registration and session: a value from another person's page, or from this browser
before it started a registration or signed in, is refused (reload the page for a fresh one).
And the request must come from this site (:func:`from_this_site`): an ``Origin`` header, when
sent, must be exactly this site's origin — ``Origin: null`` is refused (the pages' referrer
policy is ``same-origin`` so that browsers send the real origin on their own forms); a
``Sec-Fetch-Site`` other than ``same-origin`` (or ``none``) is refused; without ``Origin``, a
``Referer`` must be on this site. A request with none of the three headers (not a current
browser) still needs the bound ``csrf`` value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute, APIRouter

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
    "Referrer-Policy": "same-origin",  # so that browsers send Origin on our own forms (no-referrer sends "null")
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


class Answer(Exception):
    """Raised by a route's helper to answer with ``response`` instead (a refused form, a finished registration,
    an ended session); :class:`PortalRoute` sends it, with the security headers."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class PortalRoute(APIRoute):
    """A route whose responses all carry the security headers (and no-store unless they set their own cache),
    and that answers an :class:`Answer` raised on the way with its page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await original(request)
            except Answer as answer:
                response = answer.response
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return handler


class PortalRouter(APIRouter):
    """The portal's router; ``timings`` holds the last photo and statement check in ms, for measurements."""

    def __init__(self) -> None:
        super().__init__(prefix=PREFIX, route_class=PortalRoute, include_in_schema=False)
        self.timings: dict[str, float] = {}


class Pages:
    """Renders the portal's templates with the CSRF value, and sets the portal's cookies."""

    def __init__(self, *, secure_cookies: bool) -> None:
        self.env = environment()
        self.secure = secure_cookies

    def render(self, request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        nonce = request.cookies.get(CSRF_COOKIE)
        fresh = not _valid_csrf_value(nonce)
        if fresh:
            nonce = secrets.token_urlsafe(32)
        csrf = csrf_token({**request.cookies, CSRF_COOKIE: str(nonce)})
        context.setdefault("error", None)
        context.setdefault("errors", [])
        context.setdefault("notice", None)
        html = self.env.get_template(template).render(csrf=csrf, prefix=PREFIX, **context)
        response = HTMLResponse(html, status_code=status)
        if fresh:
            self.set_cookie(response, name=CSRF_COOKIE, value=str(nonce), max_age=None)
        return response

    def set_cookie(self, response: Response, *, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(name, value, max_age=max_age, path=PREFIX, secure=self.secure, httponly=True,
                            samesite="strict")

    def clear_cookie(self, response: Response, name: str) -> None:
        response.delete_cookie(name, path=PREFIX, secure=self.secure, httponly=True, samesite="strict")


def _valid_csrf_value(value: str | None) -> bool:
    return isinstance(value, str) and 40 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum()


def csrf_token(cookies: Mapping[str, str]) -> str | None:
    """The CSRF value bound to these portal cookies (None without a valid nonce cookie).

    HMAC-SHA256 keyed by the nonce and the draft and session cookie values (each holds its row's
    random secret): only the browser that holds those cookies can know it.
    """
    nonce = cookies.get(CSRF_COOKIE)
    if not _valid_csrf_value(nonce):
        return None
    parts = [str(nonce)] + [str(cookies.get(name) or "")[:256] for name in (DRAFT_COOKIE, SESSION_COOKIE)]
    key = hashlib.sha256(b"likeness/portal-csrf-key/v1\x00" + "\x00".join(parts).encode()).digest()
    mac = hmac.new(key, b"likeness/portal-csrf/v1", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def from_this_site(request: Request) -> bool:
    """Whether a state-changing request came from this site's own pages (see the module docstring).

    ``Origin`` when present must equal this site's origin exactly (``null`` is refused);
    ``Sec-Fetch-Site`` when present must be ``same-origin`` or ``none``; without ``Origin`` a
    ``Referer`` when present must be on this site. With none of them the request passes here and
    stands or falls by its bound CSRF value.
    """
    own = f"{request.url.scheme}://{request.url.netloc}"
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is not None:
        return origin == own
    referer = request.headers.get("referer")
    if referer is not None:
        try:
            parts = urlsplit(referer)
        except ValueError:
            return False
        return f"{parts.scheme}://{parts.netloc}" == own
    return True


def csrf_ok(request: Request, submitted: object) -> bool:
    """The form's ``csrf`` field is the value bound to this browser's portal cookies, sent from this site."""
    expected = csrf_token(request.cookies)
    if expected is None or not isinstance(submitted, str) or len(submitted) > 100:
        return False
    if not hmac.compare_digest(expected.encode(), submitted.encode("utf-8", "replace")):
        return False
    return from_this_site(request)
