"""``/playground``: a page a partner opens to try a live session in the browser (docs/sessions.md).

No API key reaches this page: the partner's backend opens the session (``POST /v1/sessions``) and
the partner pastes the session id (or its stream URL) and the one-time **session token**. The
page's script (``gateway/static/playground/playground.js``) opens the session's WebSocket with
the token in the subprotocol list, streams the microphone or an audio file as 16 kHz mono
s16le in real time, plays the signed segments with Media Source Extensions, and shows, for each
segment, whether its bytes hash to the SHA-256 the server announced beside its manifest id.

The token is never put in a URL, a cookie or web storage: its field has no ``name`` (a form
submission could not carry it) and the CSP's ``form-action 'none'`` forbids submitting the form
at all. Every response carries a CSP with no inline script or style (``script-src 'self'``),
``connect-src 'self'`` (the page talks only to this gateway), no framing, ``no-referrer``,
``nosniff`` and ``no-store``.

>>> answer = page()   # app.include_router(router) serves it at GET /playground
>>> answer.status_code, answer.headers["content-security-policy"].split("; ")[:2], b"<script src=" in answer.body
(200, ["default-src 'none'", "script-src 'self'"], True)

    $ likeness serve --port 8000      # then open http://127.0.0.1:8000/playground
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

PREFIX = "/playground"
TEMPLATE = Path(__file__).resolve().parent / "templates" / "playground.html"
STATIC = Path(__file__).resolve().parent / "static" / "playground"
STATIC_FILES = {
    "playground.js": "text/javascript; charset=utf-8",
    "playground-worklet.js": "text/javascript; charset=utf-8",  # the microphone's AudioWorklet module
    "playground.css": "text/css; charset=utf-8",
}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self' blob:; "
       "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=(), payment=()",
}

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("")
def page() -> HTMLResponse:
    """The playground page: static HTML, its script and style from ``/playground/static``."""
    return HTMLResponse(TEMPLATE.read_text(encoding="utf-8"), headers={**HEADERS, "Cache-Control": "no-store"})


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The page's script, its AudioWorklet module and its style sheet (nothing else)."""
    if name not in STATIC_FILES:
        return Response("not found", status_code=404, media_type="text/plain", headers=HEADERS)
    return FileResponse(STATIC / name, media_type=STATIC_FILES[name],
                        headers={**HEADERS, "Cache-Control": "public, max-age=600"})


__all__ = ["CSP", "router"]
