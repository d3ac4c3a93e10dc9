"""/admin page sessions and admin tokens: the cookie holds a server-side session id, never the token; logout,
idle time, lifetime and revocation end a session; tokens expire; form CSRF values are bound to one session and
must come from this site. Over real HTTP (uvicorn in a thread) and on the service with a clock the test moves."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from gateway_factories import live_gateway
from partner_factories import stored_text

from gateway.admin import COOKIE, admin_session_valid
from gateway.settings import Settings
from partners import (
    ExpiredKeyError,
    PartnerInputError,
    PartnerService,
    RevokedKeyError,
    UnknownKeyError,
    hash_admin_session,
)

LIKENESS = str(Path(sys.executable).parent / "likeness")
IDLE = timedelta(minutes=30)


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    settings = Settings.for_tests(tmp_path_factory.mktemp("admin") / "var")
    with live_gateway(settings, run_jobs=False) as gateway:
        yield gateway


def _browser(gw) -> httpx.Client:
    return httpx.Client(base_url=gw.url, timeout=60, follow_redirects=False)


def _sign_in(gw, token: str) -> tuple[httpx.Client, str, str]:
    """A browser signed in with ``token``: the client, its session cookie and the CSRF value of its pages."""
    browser = _browser(gw)
    signed = browser.post("/admin/login", data={"token": token})
    assert signed.status_code == 303, signed.text
    cookie = browser.cookies[COOKIE]
    page = browser.get("/admin")
    assert page.status_code == 200 and "Sign in" not in page.text
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text).group(1)
    return browser, cookie, csrf


def _replay(gw, cookie: str) -> httpx.Response:
    """A fresh client presenting only ``cookie`` (as a thief who copied it would)."""
    with httpx.Client(base_url=gw.url, timeout=60, follow_redirects=False, cookies={COOKIE: cookie}) as thief:
        return thief.get("/admin/audit")


def test_the_cookie_holds_a_random_session_id_and_the_database_only_its_hash(gw):
    issued = gw.runtime.partners.add_admin("cookie check")
    with _browser(gw) as browser:
        signed = browser.post("/admin/login", data={"token": issued.plaintext})
        header = signed.headers["set-cookie"]
        cookie = browser.cookies[COOKIE]
    assert issued.plaintext not in header and issued.plaintext.rsplit("_", 1)[1] not in header
    assert re.fullmatch(r"las_[A-Za-z0-9_-]{43}", cookie)
    assert "HttpOnly" in header and "samesite=strict" in header.lower() and "Path=/admin" in header
    stored = stored_text(gw.runtime.engine)
    assert cookie not in stored and cookie[4:20] not in stored and hash_admin_session(cookie) in stored


def test_logout_deletes_the_session_and_a_replayed_cookie_is_refused(gw):
    issued = gw.runtime.partners.add_admin("logout check")
    browser, cookie, csrf = _sign_in(gw, issued.plaintext)
    with closing(browser):
        assert _replay(gw, cookie).status_code == 200  # the cookie works while the session lives
        out = browser.post("/admin/logout", data={"csrf": csrf})
        assert out.status_code == 303
    replayed = _replay(gw, cookie)
    assert replayed.status_code == 303 and replayed.headers["location"] == "/admin"  # back to the login page
    assert not admin_session_valid(gw.runtime, cookie)
    with _browser(gw) as again:  # the token itself still signs in (logout ends a session, not the token)
        assert again.post("/admin/login", data={"token": issued.plaintext}).status_code == 303


def test_revoking_the_token_ends_its_sessions(gw):
    issued = gw.runtime.partners.add_admin("revocation check")
    browser, cookie, _ = _sign_in(gw, issued.plaintext)
    browser.close()
    assert admin_session_valid(gw.runtime, cookie)
    gw.runtime.partners.revoke_admin(issued.key_id)
    assert _replay(gw, cookie).status_code == 303
    assert not admin_session_valid(gw.runtime, cookie)


def test_an_expired_admin_token_is_refused_at_login_and_on_the_json_api(gw):
    long_ago = datetime.now(UTC) - timedelta(days=91)
    expired = PartnerService(gw.runtime.engine, clock=lambda: long_ago).add_admin("expired", valid_for=timedelta(
        days=90))  # issued 91 days ago for 90 days
    fresh = gw.runtime.partners.add_admin("fresh")
    with _browser(gw) as browser:
        refused = browser.post("/admin/login", data={"token": expired.plaintext})
        assert refused.status_code == 401 and "expired" in refused.text and COOKIE not in browser.cookies
    with httpx.Client(base_url=gw.url, headers={"Authorization": f"Bearer {expired.plaintext}"}) as api:
        answer = api.get("/admin/api/audit")
    assert answer.status_code == 401 and "expired" in answer.json()["error"]["message"]
    assert expired.plaintext.rsplit("_", 1)[1] not in answer.text
    with httpx.Client(base_url=gw.url, headers={"Authorization": f"Bearer {fresh.plaintext}"}) as api:
        assert api.get("/admin/api/audit").status_code == 200


def test_a_csrf_value_of_another_session_of_the_same_admin_is_refused(gw):
    issued = gw.runtime.partners.add_admin("two tabs")
    first, _, first_csrf = _sign_in(gw, issued.plaintext)
    second, _, second_csrf = _sign_in(gw, issued.plaintext)
    with closing(first), closing(second):
        assert first_csrf != second_csrf
        refused = second.post("/admin/audit/checkpoint", data={"csrf": first_csrf})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf"
        assert second.post("/admin/audit/checkpoint", data={"csrf": second_csrf}).status_code == 303


@pytest.mark.parametrize("headers", [{"Origin": "null"}, {"Origin": "https://evil.example"},
                                     {"Sec-Fetch-Site": "cross-site"}, {"Referer": "https://evil.example/x"}])
def test_admin_forms_from_elsewhere_are_refused_even_with_the_right_csrf_value(gw, headers):
    issued = gw.runtime.partners.add_admin("origin check")
    browser, cookie, csrf = _sign_in(gw, issued.plaintext)
    with closing(browser):
        assert browser.post("/admin/logout", data={"csrf": csrf}, headers=headers).status_code == 403
        assert admin_session_valid(gw.runtime, cookie)  # not logged out
        with _browser(gw) as other:
            assert other.post("/admin/login", data={"token": issued.plaintext}, headers=headers).status_code == 403
        own = {"Origin": gw.url, "Sec-Fetch-Site": "same-origin"}
        assert browser.post("/admin/logout", data={"csrf": csrf}, headers=own).status_code == 303


def test_admin_session_valid_never_raises_for_junk(gw):
    for junk in (None, "", "las_", "x" * 5000, "las_" + "A" * 43, "lka_AAAAAAAAAA_" + "B" * 43):
        assert admin_session_valid(gw.runtime, junk) is False


# --- the service, with a clock ------------------------------------------------------------------


def test_sessions_end_when_idle_and_at_their_lifetime(service, clock):
    token = service.add_admin("ada").plaintext
    _, idle_one = service.start_admin_session(token, lifetime=timedelta(hours=8))
    _, busy_one = service.start_admin_session(token, lifetime=timedelta(hours=8))
    for _ in range(19):  # 19 × 25 min of activity: the busy one lives on through 475 minutes
        clock.advance(minutes=25)
        assert service.admin_session(busy_one, idle=IDLE).name == "ada"
    with pytest.raises(ExpiredKeyError):
        service.admin_session(idle_one, idle=IDLE)
    with pytest.raises(UnknownKeyError):  # an ended session is deleted
        service.admin_session(idle_one, idle=IDLE)
    clock.advance(minutes=25)  # 500 minutes after sign-in: past the 8 hours, however active
    with pytest.raises(ExpiredKeyError):
        service.admin_session(busy_one, idle=IDLE)


def test_a_check_without_touch_does_not_keep_a_session_alive(service, clock):
    token = service.add_admin("ada").plaintext
    _, session_id = service.start_admin_session(token, lifetime=timedelta(hours=8))
    clock.advance(minutes=20)
    service.admin_session(session_id, idle=IDLE, touch=False)
    clock.advance(minutes=11)
    with pytest.raises(ExpiredKeyError):
        service.admin_session(session_id, idle=IDLE)


def test_tokens_expire_and_a_session_never_outlives_its_token(service, clock):
    issued = service.add_admin("ada", valid_for=timedelta(hours=2))
    assert service.list_admins()[0].expires_at == clock.now + timedelta(hours=2)
    _, session_id = service.start_admin_session(issued.plaintext, lifetime=timedelta(hours=8))
    for _ in range(4):  # active for 100 minutes
        clock.advance(minutes=25)
        service.admin_session(session_id, idle=IDLE)
    clock.advance(minutes=25)  # 125 minutes: the token expired at 120, and the session with it
    with pytest.raises(ExpiredKeyError):
        service.admin_session(session_id, idle=IDLE)
    with pytest.raises(ExpiredKeyError):
        service.authenticate_admin(issued.plaintext)
    with pytest.raises(ExpiredKeyError):
        service.start_admin_session(issued.plaintext, lifetime=timedelta(hours=8))
    for wrong in (timedelta(0), timedelta(days=400)):
        with pytest.raises(PartnerInputError):
            service.add_admin("bob", valid_for=wrong)


def test_revoked_tokens_cannot_sign_in_and_logout_is_final(service):
    issued = service.add_admin("ada")
    _, session_id = service.start_admin_session(issued.plaintext, lifetime=timedelta(hours=8))
    assert service.end_admin_session(session_id) is True
    assert service.end_admin_session(session_id) is False
    with pytest.raises(UnknownKeyError):
        service.admin_session(session_id, idle=IDLE)
    service.revoke_admin(issued.prefix)
    with pytest.raises(RevokedKeyError):
        service.start_admin_session(issued.plaintext, lifetime=timedelta(hours=8))


def test_likeness_admin_add_expires_in(tmp_path):
    env = {**os.environ, "LIKENESS_DATA_DIR": str(tmp_path / "var")}
    env.pop("LIKENESS_DATABASE_URL", None)
    assert subprocess.run([LIKENESS, "keys", "init"], env=env, capture_output=True, timeout=120).returncode == 0
    added = subprocess.run([LIKENESS, "admin", "add", "ada", "--expires-in", "12h"], env=env, capture_output=True,
                           text=True, timeout=120)
    assert added.returncode == 0 and added.stdout.startswith("lka_"), added.stderr
    default = subprocess.run([LIKENESS, "admin", "add", "bob"], env=env, capture_output=True, text=True, timeout=120)
    assert default.returncode == 0, default.stderr
    bad = subprocess.run([LIKENESS, "admin", "add", "eve", "--expires-in", "forever"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == "" and "--expires-in" in bad.stderr
    listed = subprocess.run([LIKENESS, "admin", "list", "--json"], env=env, capture_output=True, text=True,
                            timeout=120)
    admins = {a["name"]: a for a in json.loads(listed.stdout)}
    assert set(admins) == {"ada", "bob"}
    for name, lifetime in (("ada", timedelta(hours=12)), ("bob", timedelta(days=90))):
        made = datetime.fromisoformat(admins[name]["created_at"])
        assert datetime.fromisoformat(admins[name]["expires_at"]) - made == lifetime
