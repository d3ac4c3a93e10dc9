"""The portal's CSRF defence over real HTTP: a form's value is bound to the browser's own portal cookies (a value
and nonce cookie planted from another browser are refused), and a form must come from this site (``Origin: null``,
a foreign origin or referrer, and ``Sec-Fetch-Site: cross-site`` are refused even with the right value)."""

from __future__ import annotations

import re
from contextlib import closing

import pytest
from consent_factories import scope
from fastapi import FastAPI
from portal_factories import PortalClient, serve

from consent import ConsentStatus
from consent.portal import portal_router
from consent.portal._web import CSRF_COOKIE, SESSION_COOKIE
from faces import get_identity_backend


@pytest.fixture(scope="module")
def identity():
    return get_identity_backend("dlib")


@pytest.fixture
def site(registry, engine, clock, identity):
    router = portal_router(registry=registry, engine=engine, identity=identity, max_upload_bytes=2**20,
                           max_media_seconds=20.0, clock=clock, secure_cookies=False)
    app = FastAPI()
    app.include_router(router)
    with serve(app) as url:
        yield url


def _signed_in(url: str, registry) -> tuple[PortalClient, str]:
    """A person's browser signed in to manage their own consent (registered directly: no media needed)."""
    consent, token = registry.register(scope())
    client = PortalClient(url)
    client.get("/consent/manage")
    signed = client.post("/consent/manage/sign-in", data={"consent_id": consent.id, "token": token})
    assert signed.status_code == 303, client.error()
    client.get("/consent/manage")
    assert 'action="/consent/manage/revoke"' in client.page
    return client, consent.id


def test_a_csrf_value_and_nonce_cookie_planted_from_another_browser_are_refused(site, registry):
    alice, consent_id = _signed_in(site, registry)
    with closing(alice), closing(PortalClient(site)) as mallory:
        mallory.get("/consent/manage")  # a page of her own: its CSRF value and the nonce cookie it goes with
        planted_nonce, planted_value = mallory.http.cookies[CSRF_COOKIE], mallory.csrf()
        # cookie tossing: Mallory's nonce set in Alice's browser, her form value in a form posted from it
        alice.http.cookies.set(CSRF_COOKIE, planted_nonce, domain="127.0.0.1", path="/consent")
        attack = alice.http.post("/consent/manage/revoke", data={"csrf": planted_value, "reason": "forged"})
        assert attack.status_code == 403
        assert registry.get(consent_id).status == ConsentStatus.ACTIVE
        # Alice's own value is bound to her session cookie too: it stops working once that cookie is not hers
        alice.get("/consent/manage")
        own_value = alice.csrf()
        session_cookie = alice.http.cookies[SESSION_COOKIE]
        alice.http.cookies.delete(SESSION_COOKIE)
        assert alice.http.post("/consent/manage/sign-out", data={"csrf": own_value}).status_code == 403
        alice.http.cookies.set(SESSION_COOKIE, session_cookie, domain="127.0.0.1", path="/consent")
        revoked = alice.http.post("/consent/manage/revoke", data={"csrf": own_value, "reason": "mine"})
        assert revoked.status_code == 303
    assert registry.get(consent_id).status == ConsentStatus.REVOKED


def test_a_value_from_before_signing_in_no_longer_counts(site, registry):
    consent, token = registry.register(scope())
    with closing(PortalClient(site)) as client:
        client.get("/consent/manage")
        before = client.csrf()
        assert client.post("/consent/manage/sign-in", data={"consent_id": consent.id, "token": token}).status_code \
            == 303
        assert client.http.post("/consent/manage/sign-out", data={"csrf": before}).status_code == 403
        client.get("/consent/manage")
        assert client.csrf() != before
        assert client.post("/consent/manage/sign-out").status_code == 303


@pytest.mark.parametrize("headers", [{"Origin": "null"}, {"Origin": "https://evil.example"},
                                     {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                                     {"Referer": "https://evil.example/page"}])
def test_forms_from_elsewhere_are_refused_even_with_the_right_value(site, registry, headers):
    client, consent_id = _signed_in(site, registry)
    with closing(client):
        value = client.csrf()
        refused = client.http.post("/consent/manage/revoke", data={"csrf": value, "reason": "x"}, headers=headers)
        assert refused.status_code == 403 and "did not come from this site" in refused.text
        assert registry.get(consent_id).status == ConsentStatus.ACTIVE
        own = {"Origin": site, "Sec-Fetch-Site": "same-origin", "Referer": f"{site}/consent/manage"}
        assert client.http.post("/consent/manage/revoke", data={"csrf": value, "reason": "x"},
                                headers=own).status_code == 303
    assert registry.get(consent_id).status == ConsentStatus.REVOKED


def test_pages_ask_browsers_to_send_their_origin(site):
    with closing(PortalClient(site)) as client:
        response = client.get("/consent/manage")
    # under "no-referrer" browsers send "Origin: null" on a page's own form posts, which is now refused
    assert response.headers["referrer-policy"] == "same-origin"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", client.csrf())
