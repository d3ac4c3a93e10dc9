"""The gateway's edge: who calls, how often, and how large a body may be — decided before a body byte is read.

FastAPI reads and parses a route's form before it resolves the route's dependencies, so a key
checked in a dependency is checked after the whole upload arrived. :class:`Edge` is ASGI
middleware that answers first, from the request line and headers alone:

    /v1/*                 the Bearer key (partners) and the partner's rate → 401 / 403 / 429
    POST /admin/*         the admin page session cookie (gateway.admin) → 303 to the sign-in page
    POST /consent/start, /consent/photos, /consent/statement
                          a per-address rate and a cap on how many run at once → 429 (the portal's page)
    every request         a body cap chosen by route (:class:`BodyCaps`) → 413 by Content-Length at once,
                          or the moment a chunked body passes it

The portal's upload routes check the registration's draft cookie themselves before they read a
byte (consent/portal/routes.py); its start route asks for a proof-of-work (consent/portal/_pow.py).

>>> caps = BodyCaps(max_upload_bytes=50 * 2**20)
>>> caps.for_request("POST", path="/v1/generations") == 2 * 50 * 2**20 + 64 * 1024
True
>>> caps.for_request("POST", path="/v1/sessions") == 50 * 2**20 + 64 * 1024
True
>>> caps.for_request("POST", path="/v1/consents/cns_0/check"), caps.for_request("GET", path="/v1/me")
(65536, 1024)
>>> client_address({"client": ("10.0.0.2", 5), "headers": [(b"x-forwarded-for", b"203.0.113.9, 10.0.0.1")]},
...                trusted=parse_proxies("10.0.0.0/8"))
'203.0.113.9'
>>> client_address({"client": ("198.51.100.7", 5), "headers": [(b"x-forwarded-for", b"203.0.113.9")]},
...                trusted=parse_proxies(""))
'198.51.100.7'
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from fastapi.responses import RedirectResponse
from starlette.requests import Request
from starlette.responses import Response

from gateway.api import error_response
from gateway.runtime import Runtime
from gateway.settings import Settings
from generations import Refusal
from likeness import LikenessError

logger = logging.getLogger("likeness.edge")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

KIB = 1024
JSON_BYTES = 64 * KIB  # a JSON body of the partner API
FORM_BYTES = 64 * KIB  # a form without files (portal, admin)
FORM_SLACK = 64 * KIB  # multipart boundaries, part headers and small fields around uploaded files
BODYLESS_BYTES = 1 * KIB  # GET, HEAD, DELETE and the rest: no body expected
PORTAL = "/consent"
PORTAL_UPLOADS = frozenset({f"{PORTAL}/photos", f"{PORTAL}/statement"})
PORTAL_EXPENSIVE = PORTAL_UPLOADS | {f"{PORTAL}/start"}
ADMIN_SIGN_IN = "/admin/login"


# ---------------------------------------------------------------------------------------- body caps


@dataclass(frozen=True)
class BodyCaps:
    """The largest body each route accepts, from the upload limit of the settings."""

    max_upload_bytes: int

    def for_request(self, method: str, *, path: str) -> int:
        if method not in ("POST", "PUT", "PATCH"):
            return BODYLESS_BYTES
        if path == "/v1/generations":
            return 2 * self.max_upload_bytes + FORM_SLACK  # portrait + audio, each up to the limit
        if path == "/v1/sessions":
            return self.max_upload_bytes + FORM_SLACK  # a live session's portrait
        if path in PORTAL_UPLOADS:
            return self.max_upload_bytes + FORM_SLACK  # the photos together, or the statement
        if path.startswith("/v1/"):
            return JSON_BYTES
        return FORM_BYTES


# ---------------------------------------------------------------------------------------- client address


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_proxies(text: str) -> tuple[Network, ...]:
    """``LIKENESS_TRUSTED_PROXIES``: comma-separated addresses or CIDR networks (empty: trust none)."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def _trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(scope: Scope, *, trusted: tuple[Network, ...]) -> str:
    """The direct peer's address; behind a trusted proxy, the nearest untrusted address of X-Forwarded-For."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not trusted or not _trusted(peer, trusted):
        return str(peer)
    forwarded = [v for k, v in scope.get("headers") or [] if k == b"x-forwarded-for"]
    hops = [h.strip() for v in forwarded for h in v.decode("latin-1").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else str(peer)


# ---------------------------------------------------------------------------------------- the portal's limits


class PortalLimits:
    """Per-address requests a minute and requests in flight, for the portal's expensive routes (one process).

    Fixed one-minute windows, forgotten when the minute turns; at most ``max_addresses`` addresses
    are tracked in a minute, and a new one beyond that is refused (fail closed under a flood).
    """

    def __init__(self, *, per_minute: int, max_concurrent: int, max_addresses: int = 100_000,
                 clock: Callable[[], float] = time.time) -> None:
        self.per_minute = per_minute
        self.max_concurrent = max_concurrent
        self.max_addresses = max_addresses
        self.in_flight = 0
        self._clock = clock
        self._minute = -1
        self._counts: dict[str, int] = {}

    def hit(self, address: str) -> int | None:
        """Count one request from ``address``; None if allowed, else the seconds to wait."""
        now = self._clock()
        minute = int(now // 60)
        if minute != self._minute:
            self._minute, self._counts = minute, {}
        if address not in self._counts and len(self._counts) >= self.max_addresses:
            return 60 - int(now) % 60
        count = self._counts.get(address, 0) + 1
        self._counts[address] = count
        return None if count <= self.per_minute else 60 - int(now) % 60


# ---------------------------------------------------------------------------------------- the middleware


def edge_key(settings: Settings) -> bytes:
    """The key of the portal's start challenges and of the address tags in the logs, shared by every process.

    Derived from the consent master key (HMAC-SHA256 with its own label), so several processes and
    replicas agree without another secret to provision.
    """
    from gateway.deps import consent_keys

    return hmac.new(consent_keys(settings).master_key, b"likeness/edge/v1", hashlib.sha256).digest()


class _BodyTooLarge(Exception):
    pass


class Edge:
    """ASGI middleware: authentication, rate limits and body caps before the body (see the module's docstring)."""

    def __init__(self, app: Any, *, runtime: Runtime, key: bytes) -> None:
        settings = runtime.settings
        self.app = app
        self.runtime = runtime
        self.caps = BodyCaps(max_upload_bytes=settings.max_upload_bytes)
        self.trusted = parse_proxies(settings.trusted_proxies)
        self.portal = PortalLimits(per_minute=settings.portal_rate_per_minute,
                                   max_concurrent=settings.portal_max_concurrent)
        self.secure_cookies = settings.environment == "production"
        self._tag_key = hmac.new(key, b"likeness/edge-address-tag/v1", hashlib.sha256).digest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        cap = self.caps.for_request(method, path=path)
        if path == "/v1" or path.startswith("/v1/"):
            refusal = await self._partner(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        elif method == "POST" and path.startswith("/admin/") and path != ADMIN_SIGN_IN \
                and not path.startswith("/admin/api/"):
            try:
                signed_in = await anyio.to_thread.run_sync(self._admin_signed_in, scope)
            except LikenessError as exc:
                await _error(exc)(scope, receive, send)
                return
            if not signed_in:
                await RedirectResponse("/admin", status_code=303)(scope, receive, send)
                return
        declared = _content_length(scope)
        if declared == -1 or (declared is not None and declared > cap):
            status = 400 if declared == -1 else 413
            await self._refuse(scope, receive, send, status=status, cap=cap)
            return
        if method == "POST" and path in PORTAL_EXPENSIVE:
            await self._portal(scope, receive, send, cap=cap)
            return
        await self._capped(scope, receive, send, cap=cap)

    # -------------------------------------------------------------------- who is calling

    async def _partner(self, scope: Scope) -> Response | None:
        """Authenticate the Bearer key and count the request against its partner's rate; a response refuses."""
        key = _bearer(scope)
        if key is None:
            return _error(Refusal("send the API key as 'Authorization: Bearer <key>'", status=401,
                                  code="unauthenticated"))
        rt = self.runtime

        def check() -> Any:
            caller = rt.partners.authenticate(key)
            rt.gate.count_request(caller)
            return caller

        try:
            caller = await anyio.to_thread.run_sync(check)
        except LikenessError as exc:
            return _error(exc)
        state = scope.setdefault("state", {})
        state["partner"], state["partner_id"] = caller, caller.partner.id
        return None

    def _admin_signed_in(self, scope: Scope) -> bool:
        from gateway.admin import COOKIE, admin_session_valid

        return admin_session_valid(self.runtime, Request(scope).cookies.get(COOKIE))

    # -------------------------------------------------------------------- the portal

    def _tag(self, address: str) -> str:
        """A keyed hash of a client address for the logs (never the address itself)."""
        return hmac.new(self._tag_key, address.encode(), hashlib.sha256).hexdigest()[:12]

    async def _portal(self, scope: Scope, receive: Receive, send: Send, *, cap: int) -> None:
        limits = self.portal
        address = client_address(scope, trusted=self.trusted)
        wait = limits.hit(address)
        if wait is not None:
            logger.warning("portal: client %s over %d requests a minute on %s", self._tag(address),
                           limits.per_minute, scope["path"])
            await self._portal_page(scope, receive, send, status=429, retry_after=wait, message=(
                "Too many attempts from your connection in the last minute. Wait a minute, then try again."))
            return
        if limits.in_flight >= limits.max_concurrent:
            logger.warning("portal: %d expensive requests in flight; client %s asked to retry", limits.in_flight,
                           self._tag(address))
            await self._portal_page(scope, receive, send, status=429, retry_after=5, message=(
                "The portal is busy checking other people's photos and recordings. Wait a few seconds, then "
                "send the page again."))
            return
        limits.in_flight += 1
        try:
            await self._capped(scope, receive, send, cap=cap)
        finally:
            limits.in_flight -= 1

    async def _portal_page(self, scope: Scope, receive: Receive, send: Send, *, status: int, message: str,
                           retry_after: int | None = None) -> None:
        from consent.portal import refusal_page

        page = refusal_page(Request(scope), status=status, message=message, secure_cookies=self.secure_cookies)
        if retry_after is not None:
            page.headers["Retry-After"] = str(retry_after)
        await page(scope, receive, send)

    # -------------------------------------------------------------------- body caps

    async def _capped(self, scope: Scope, receive: Receive, send: Send, *, cap: int) -> None:
        """Run the app with a receive that stops at ``cap`` bytes (413 if nothing was answered yet)."""
        seen = 0
        exceeded = started = False

        async def guarded_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    exceeded = True
                    raise _BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # what the app answers to a body cut short (a parse error, its own page) gives way to the 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await self._refuse(scope, receive, send, status=413, cap=cap)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, *, status: int, cap: int) -> None:
        """413 (or 400 for a Content-Length that is not a number): JSON for the API, the portal's page for it."""
        path = scope["path"]
        if path == PORTAL or path.startswith(PORTAL + "/"):
            from consent.portal import too_large_message

            message = too_large_message(cap - (FORM_SLACK if path in PORTAL_UPLOADS else 0)) if status == 413 \
                else "The request's length is not a number."
            await self._portal_page(scope, receive, send, status=status, message=message)
            return
        if status == 413:
            exc = Refusal(f"the request body exceeds {cap} bytes, the most this route accepts", status=413,
                          code="payload_too_large")
        else:
            exc = Refusal("invalid Content-Length", status=400, code="bad_request")
        await _error(exc)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared length; None if absent (chunked), -1 if not a number."""
    for name, value in scope.get("headers") or []:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) <= 18 else -1
    return None


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
            return None
    return None


def _error(exc: LikenessError) -> Response:
    """The JSON error the app's handler would give."""
    return error_response(exc, request_id="edge")


__all__ = ["BodyCaps", "Edge", "PortalLimits", "client_address", "edge_key", "parse_proxies"]
