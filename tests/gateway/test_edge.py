"""The edge against a real ``likeness serve`` process over raw sockets: refusals come before the body is sent.

Each test sends a request's head (and only as much body as it says), then reads: a 401, 403,
413 or 429 that arrives while no body byte was sent shows the server decided without the body.
The upload limit is 8 MiB here, so the partner API's upload route takes 16 MiB + 64 KiB.
"""

from __future__ import annotations

import hashlib
import json
import re

import httpx
import pytest
from edge_factories import MIB, RawClient, Served, chunked, likeness_serve

from consent.portal._pow import solve

MAX_UPLOAD = 8 * MIB
GENERATIONS_CAP = 2 * MAX_UPLOAD + 64 * 1024
PORTAL_RATE = 6
MULTIPART = "multipart/form-data; boundary=x"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Served:
    data = tmp_path_factory.mktemp("edge") / "var"
    with likeness_serve(data, max_upload_bytes=str(MAX_UPLOAD), portal_rate_per_minute=str(PORTAL_RATE),
                        portal_max_concurrent="1", portal_pow_bits="8", trusted_proxies="127.0.0.1") as served:
        yield served


@pytest.fixture(scope="module")
def key(server: Served) -> str:
    return server.cli("partners", "add", "acme", "--use-case", "education", "--rate", "1000")


def _upload_head(client: RawClient, *, length: int | None, key: str | None = None, path: str = "/v1/generations",
                 **extra: str) -> None:
    headers = {"Content-Type": MULTIPART, **extra}
    if length is None:
        headers["Transfer-Encoding"] = "chunked"
    else:
        headers["Content-Length"] = str(length)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    client.head("POST", path, headers)


def test_an_upload_without_a_key_is_refused_before_its_body(server):
    for key in (None, "lk_live_0000000000_" + "0" * 43):  # none, and one that was never issued
        with RawClient(server.port) as client:
            _upload_head(client, length=64 * MIB, key=key)
            response = client.response()  # read before a single body byte was sent
            assert client.sent_body == 0
        assert response.status == 401, response.body
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] in ("unauthenticated", "unknown_key")
        assert "x-request-id" in response.headers  # the request log wraps the edge


def test_a_chunked_upload_without_a_key_is_refused_before_its_body(server):
    with RawClient(server.port) as client:
        _upload_head(client, length=None)
        response = client.response()
        assert client.sent_body == 0
    assert response.status == 401 and response.json()["error"]["code"] == "unauthenticated"


def test_an_upload_over_the_routes_cap_is_refused_before_its_body(server, key):
    with RawClient(server.port) as client:
        _upload_head(client, length=64 * MIB, key=key)
        response = client.response()
        assert client.sent_body == 0
    assert response.status == 413
    assert response.json()["error"] == {"code": "payload_too_large", "reasons": [], "policy_version": None,
                                        "message": f"the request body exceeds {GENERATIONS_CAP} bytes, the most "
                                                   "this route accepts"}


def test_a_chunked_upload_is_refused_as_it_passes_the_cap(server, key):
    with RawClient(server.port) as client:
        _upload_head(client, length=None, key=key)
        client.send_until_answered(chunked(4 * GENERATIONS_CAP))  # the body's last chunk is never sent:
        response = client.response()  # an answer refused it while it streamed
        assert client.sent_body < 4 * GENERATIONS_CAP
    assert response.status == 413 and response.json()["error"]["code"] == "payload_too_large"


def test_json_routes_take_64_kib(server, key):
    url = f"/v1/consents/cns_{'0' * 32}/check"
    with RawClient(server.port) as client:
        client.head("POST", url, {"Content-Type": "application/json", "Content-Length": str(1_000_000),
                                  "Authorization": f"Bearer {key}"})
        response = client.response()
        assert client.sent_body == 0
    assert response.status == 413 and "exceeds 65536 bytes" in response.json()["error"]["message"]
    with RawClient(server.port) as client:  # the same 1 MB sent chunked: cut off as it passes 64 KiB
        client.head("POST", url, {"Content-Type": "application/json", "Transfer-Encoding": "chunked",
                                  "Authorization": f"Bearer {key}"})
        body = json.dumps({"purpose": "education", "padding": "x" * 1_000_000}).encode()
        client.send_until_answered(iter([f"{len(body[i:i + 8192]):x}\r\n".encode() + body[i:i + 8192] + b"\r\n"
                                         for i in range(0, len(body), 8192)]))  # without the last chunk
        response = client.response()
    assert response.status == 413 and "exceeds 65536 bytes" in response.json()["error"]["message"]
    small = httpx.post(server.url + url, json={"purpose": "education"}, headers={"Authorization": f"Bearer {key}"})
    assert small.status_code == 404 and small.json()["error"]["code"] == "consent_unknown"  # under the cap: decided


def test_a_partner_request_is_counted_once_and_over_the_rate_refused_before_its_body(server):
    slow = server.cli("partners", "add", "slowco", "--use-case", "education", "--rate", "3")
    headers = {"Authorization": f"Bearer {slow}"}
    answers = []
    for _ in range(7):  # fixed one-minute windows: a 429 comes within 2 × 3 + 1 requests, wherever the minute turns
        answers.append(httpx.get(f"{server.url}/v1/me", headers=headers).status_code)
        if answers[-1] == 429:
            break
    assert answers[-1] == 429 and answers.count(200) >= 3, answers  # counted once per request (not twice)
    with RawClient(server.port) as client:
        _upload_head(client, length=MIB, key=slow)
        response = client.response()
        assert client.sent_body == 0
    assert response.status == 429 and int(response.headers["retry-after"]) in range(1, 61)
    assert response.json()["error"]["code"] == "rate_limited"


def test_admin_posts_need_the_session_cookie_before_the_body(server):
    for cookie in (None, "likeness_admin=forged-session-id"):
        with RawClient(server.port) as client:
            headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(8 * MIB)}
            if cookie:
                headers["Cookie"] = cookie
            client.head("POST", "/admin/partners/acme/suspend", headers)
            response = client.response()
            assert client.sent_body == 0
        assert response.status == 303 and response.headers["location"] == "/admin"
    with RawClient(server.port) as client:  # the sign-in form itself is small
        client.head("POST", "/admin/login", {"Content-Type": "application/x-www-form-urlencoded",
                                             "Content-Length": str(MIB)})
        response = client.response()
    assert response.status == 413


def test_portal_uploads_need_a_draft_and_their_cap_before_the_body(server):
    with RawClient(server.port) as client:  # under the cap, but no registration: the draft is checked first
        _upload_head(client, length=4 * MIB, path="/consent/photos")
        response = client.response()
        assert client.sent_body == 0
    assert response.status == 410 and b"Your registration has expired or is finished" in response.body
    with RawClient(server.port) as client:
        _upload_head(client, length=64 * MIB, path="/consent/statement")
        response = client.response()
        assert client.sent_body == 0
    assert response.status == 413 and b"The upload is larger than 8.0 MB" in response.body
    assert response.headers["content-type"].startswith("text/html")  # the portal's page, with its headers
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_the_portal_start_needs_a_proof_of_work_spent_once(server):
    with httpx.Client(base_url=server.url, headers={"X-Forwarded-For": "203.0.113.77"}) as browser:
        page = browser.get("/consent").text
        challenge = re.search(r'data-pow-challenge="([^"]+)"', page).group(1)
        assert re.search(r'data-pow-bits="(\d+)"', page).group(1) == "8"  # LIKENESS_PORTAL_POW_BITS
        form = {"csrf": _csrf(page), "pow_challenge": challenge, "pow_solution": solve(challenge, bits=8)}
        assert hashlib.sha256(f"{challenge}:{form['pow_solution']}".encode()).digest()[0] == 0
        first = browser.post("/consent/start", data=form)
        again = browser.post("/consent/start", data={**form, "csrf": _csrf(browser.get("/consent").text)})
    assert first.status_code == 303 and first.headers["location"] == "/consent/photos", first.text[:500]
    assert again.status_code == 403 and "already used" in again.text


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def test_one_expensive_portal_request_at_a_time_here(server):
    # an expensive request held open (its body not yet sent) takes the one slot: the next is told to retry
    with RawClient(server.port) as holder:
        holder.head("POST", "/consent/start", {"Content-Type": "application/x-www-form-urlencoded",
                                               "Content-Length": "10", "X-Forwarded-For": "203.0.113.1"})
        busy = None
        for n in range(2, 50):  # until the server has taken the held request in (its own address each: no rate)
            with RawClient(server.port) as other:
                other.head("POST", "/consent/start", {"Content-Length": "0", "X-Forwarded-For": f"203.0.113.{n}"})
                response = other.response()
            if response.status == 429:
                busy = response
                break
        assert busy is not None and b"The portal is busy" in busy.body and busy.headers["retry-after"] == "5"
        holder.sock.sendall(b"csrf=xxxxx")
        assert holder.response().status == 403  # it went on to the route (and had no valid CSRF value)


def test_the_portal_limits_each_address_and_logs_no_address(server):
    # LIKENESS_TRUSTED_PROXIES=127.0.0.1: the tests are the proxy, X-Forwarded-For names the client
    statuses = []
    for _ in range(2 * PORTAL_RATE + 1):  # a 429 within 2 × rate + 1, wherever the minute turns
        response = httpx.post(f"{server.url}/consent/start", headers={"X-Forwarded-For": "198.51.100.7"})
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[-1] == 429 and statuses.count(403) >= PORTAL_RATE, statuses
    assert "Too many attempts from your connection" in response.text
    assert int(response.headers["retry-after"]) in range(1, 61)
    assert response.headers["content-type"].startswith("text/html")
    others = [httpx.post(f"{server.url}/consent/start", headers={"X-Forwarded-For": f"198.51.100.{100 + n}"})
              for n in range(2 * PORTAL_RATE + 1)]
    assert {r.status_code for r in others} == {403}  # other clients are not held back by that one
    spoofed = httpx.post(f"{server.url}/consent/start",  # a hop the proxy added is believed, not the one sent to it
                         headers={"X-Forwarded-For": "192.0.2.1, 198.51.100.7"})
    assert spoofed.status_code == 429
    assert httpx.get(f"{server.url}/consent").status_code == 200  # pages that cost nothing are not limited
    log = server.log.read_text()
    assert "portal: client " in log and "198.51.100." not in log and "203.0.113." not in log, log[-2000:]
    assert not [line for line in log.splitlines() if "127.0.0.1" in line and " on http://127.0.0.1:" not in line]
