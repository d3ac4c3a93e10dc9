"""The portal's page for a request refused before it reached a route: too large, too many, too busy.

The gateway's edge (gateway/edge.py) answers these before it reads a body; the page is the
portal's own (its template, its security headers), so a person sees what to do next.
"""

from __future__ import annotations

from functools import lru_cache

from fastapi import Request
from fastapi.responses import HTMLResponse

from consent.portal._uploads import too_large
from consent.portal._web import SECURITY_HEADERS, Pages


@lru_cache(maxsize=2)
def _pages(secure_cookies: bool) -> Pages:
    return Pages(secure_cookies=secure_cookies)


def refusal_page(request: Request, *, status: int, message: str, secure_cookies: bool = True) -> HTMLResponse:
    """The portal's message page with ``message`` as its alert, at ``status``."""
    page = _pages(secure_cookies).render(request, "message.html", status=status, title="Please try again",
                                         error=message)
    for name, value in SECURITY_HEADERS.items():
        page.headers.setdefault(name, value)
    page.headers.setdefault("Cache-Control", "no-store")
    return page


def too_large_message(limit: int) -> str:
    """What the portal says of an upload over ``limit`` bytes."""
    return too_large(limit).message
