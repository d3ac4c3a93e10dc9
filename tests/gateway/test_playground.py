"""``/playground`` over real HTTP: the page needs no key, carries a strict CSP and has no inline script or style;
the token field can never be submitted nor stored; only the page's own three files are served.

The page in a real browser, streaming a session, is ``test_playground_browser.py``.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from gateway_factories import live_gateway

from gateway.playground import STATIC, STATIC_FILES
from gateway.settings import Settings


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    with live_gateway(Settings.for_tests(tmp_path_factory.mktemp("playground") / "var"), run_jobs=False) as gateway:
        yield gateway.url


class _Page(HTMLParser):
    """Every element with its attributes, and the text inside each ``<script>``."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text.append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.elements if t == tag and all(a.get(k) == v for k, v in attrs.items())]


def _directives(csp: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in csp.split(";") if part.strip())}


def test_the_page_needs_no_key_and_sends_a_strict_csp(url):
    response = httpx.get(f"{url}/playground")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = _directives(response.headers["content-security-policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]  # no 'unsafe-inline', no eval
    assert csp["connect-src"] == ["'self'"]  # the WebSocket of this gateway only
    assert csp["form-action"] == ["'none'"]  # no form on the page can be submitted anywhere, the token with it
    assert csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert "microphone=(self)" in response.headers["permissions-policy"]


def test_the_page_has_no_inline_script_or_style_and_the_token_cannot_be_submitted(url):
    page = _Page()
    page.feed(httpx.get(f"{url}/playground").text)
    scripts = page.find("script")
    assert [s["src"] for s in scripts] == ["/playground/static/playground.js"]
    assert "".join(page.script_text).strip() == ""
    assert not page.find("style")
    for tag, attrs in page.elements:
        assert "style" not in attrs, tag
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)  # no inline handlers
        assert not str(attrs.get("href", "")).startswith("javascript:"), tag
    [token] = page.find("input", id="token")
    assert token["type"] == "password" and token["autocomplete"] == "off"
    assert "name" not in token  # an unnamed field is never part of a form submission
    [session] = page.find("input", id="session")
    assert "name" not in session
    [audio] = page.find("input", id="file")
    assert audio["type"] == "file" and audio["accept"] == "audio/*"
    for input_id in ("session", "token", "file", "say-text"):  # every field has its label
        assert page.find("label", **{"for": input_id}), input_id
    [status] = page.find("p", id="status")
    assert status["role"] == "status" and status["aria-live"] == "polite"


def test_the_script_keeps_the_token_out_of_urls_and_storage():
    """The token reaches the WebSocket only as a subprotocol; nothing is stored in the browser."""
    script = (STATIC / "playground.js").read_text()
    for stored in ("localStorage", "sessionStorage", "indexedDB", "document.cookie", "history.", "location.hash ="):
        assert stored not in script, stored
    assert "innerHTML" not in script and "eval(" not in script  # server data is written with textContent
    assert script.count("token}") == 1 and "[PROTOCOL, `token.${token}`]" in script
    assert 'value = ""; // spent when the stream opens' in script


def test_only_the_pages_own_files_are_served(url):
    for name, media_type in STATIC_FILES.items():
        response = httpx.get(f"{url}/playground/static/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"] == media_type
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.content == (STATIC / name).read_bytes()
    for name in ("playground.html", "..%2Fplayground.py", "..%2F..%2Fsettings.py", "nothing.js"):
        assert httpx.get(f"{url}/playground/static/{name}").status_code == 404, name
    assert {p.name for p in Path(STATIC).iterdir()} == set(STATIC_FILES)
