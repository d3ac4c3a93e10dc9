"""Object-level authorisation over real HTTP: partner B never reads, lists or downloads partner A's jobs;
keys need their scopes; suspended partners and revoked keys are refused; admin routes refuse partner keys
and the partner API refuses admin tokens."""

from __future__ import annotations

import time

import pytest
from gateway_factories import (
    generation_form,
    jpeg,
    live_gateway,
    media_files,
    needs_shared_data,
    register_consent,
    speech_wav,
    wait_for,
)

from gateway.settings import Settings

pytestmark = needs_shared_data


@pytest.fixture(scope="module")
def world(tmp_path_factory, alice):
    settings = Settings.for_tests(tmp_path_factory.mktemp("authz") / "var")
    with live_gateway(settings) as gw:
        partners = gw.runtime.partners
        _, a = partners.add("acme", use_cases=["education"], rate_per_minute=1000)
        _, b = partners.add("globex", use_cases=["education"], rate_per_minute=1000)
        _, reader = partners.add("readonly", use_cases=["education"], scopes=["generations:read"],
                                 rate_per_minute=1000)
        admin = partners.add_admin("reviewer")
        consent_id, _ = register_consent(gw.runtime, alice, partners=["acme", "globex"])
        speech = speech_wav("Good morning, class.", tmp_path_factory.mktemp("s") / "s.wav")
        job_id = gw.submit(a.plaintext, consent_id=consent_id, portrait=jpeg(alice.portraits[0]), audio=speech)
        with gw.client(a.plaintext) as client:
            assert wait_for(client, job_id)["status"] == "released"
        yield {"gw": gw, "a": a.plaintext, "b": b.plaintext, "reader": reader.plaintext, "admin": admin.plaintext,
               "job": job_id, "consent": consent_id}


PARTNER_READS = ["/v1/generations/{job}", "/v1/generations/{job}/video"]


@pytest.mark.parametrize("route", PARTNER_READS)
def test_the_owner_reads_its_job(world, route):
    with world["gw"].client(world["a"]) as client:
        assert client.get(route.format(job=world["job"])).status_code == 200


@pytest.mark.parametrize("route", PARTNER_READS)
def test_another_partner_gets_404_exactly_as_for_a_job_that_does_not_exist(world, route):
    with world["gw"].client(world["b"]) as client:
        theirs = client.get(route.format(job=world["job"]))
        nobody = client.get(route.format(job="gen_" + "0" * 16))
    assert theirs.status_code == nobody.status_code == 404
    assert theirs.json()["error"]["code"] == nobody.json()["error"]["code"] == "not_found"
    assert world["job"] not in theirs.text.replace(f"no generation {world['job']}", "")


def test_lists_hold_only_the_callers_jobs(world):
    with world["gw"].client(world["a"]) as client:
        mine = [j["id"] for j in client.get("/v1/generations").json()["items"]]
    with world["gw"].client(world["b"]) as client:
        theirs = client.get("/v1/generations").json()["items"]
    assert world["job"] in mine and theirs == []


@pytest.mark.parametrize(("method", "route"), [
    ("get", "/v1/generations"), ("get", "/v1/generations/{job}"), ("get", "/v1/generations/{job}/video"),
    ("post", "/v1/generations"), ("post", "/v1/consents/{consent}/check"), ("get", "/v1/me"),
    ("get", "/admin/api/audit"), ("get", "/admin/api/audit/verify"), ("get", "/admin/api/generations/{job}"),
])
def test_every_route_refuses_no_key_and_a_made_up_key(world, method, route):
    url = route.format(job=world["job"], consent=world["consent"])
    with world["gw"].client() as anonymous:
        assert getattr(anonymous, method)(url).status_code == 401
    with world["gw"].client("lk_live_AAAAAAAAAA_" + "B" * 43) as forged:
        response = getattr(forged, method)(url)
    assert response.status_code == 401 and "B" * 43 not in response.text


@pytest.mark.parametrize("route", ["/admin/api/audit", "/admin/api/audit/verify", "/admin/api/generations/{job}"])
def test_admin_routes_refuse_partner_keys_and_accept_admin_tokens(world, route):
    url = route.format(job=world["job"])
    with world["gw"].client(world["a"]) as partner:
        assert partner.get(url).status_code == 401
    with world["gw"].client(world["admin"]) as admin:
        assert admin.get(url).status_code == 200


def test_the_partner_api_refuses_admin_tokens(world):
    with world["gw"].client(world["admin"]) as admin:
        assert admin.get("/v1/generations").status_code == 401
        assert admin.get(f"/v1/generations/{world['job']}").status_code == 401


def test_admin_pages_need_a_login_and_refuse_a_partner_key_as_token(world):
    with world["gw"].client(follow_redirects=False) as browser:
        assert "Sign in" in browser.get("/admin/audit", follow_redirects=True).text
        refused = browser.post("/admin/login", data={"token": world["a"]})
        assert refused.status_code == 401
        assert browser.post("/admin/login", data={"token": world["admin"]}).status_code == 303
        page = browser.get("/admin/audit?kind=generation.decided")
        assert page.status_code == 200 and world["consent"] in page.text
        assert page.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in page.headers[
            "content-security-policy"]
        forged = browser.post("/admin/audit/verify", data={"csrf": "0" * 64})
        assert forged.status_code == 403
    assert world["admin"] not in page.text


def test_a_key_without_the_write_scope_cannot_generate(world):
    with world["gw"].client(world["reader"]) as client:
        response = client.post("/v1/generations", data=generation_form(consent_id=world["consent"]),
                               files=media_files(b"\xff\xd8\xff", b"RIFF"))
        listed = client.get("/v1/generations")
    assert response.status_code == 403 and "generations:write" in response.json()["error"]["message"]
    assert listed.status_code == 200


def test_a_suspended_partner_and_a_revoked_key_are_refused(world):
    gw = world["gw"]
    _, issued = gw.runtime.partners.add("initech", use_cases=["education"], rate_per_minute=1000)
    with gw.client(issued.plaintext) as client:
        assert client.get("/v1/me").status_code == 200
        gw.runtime.partners.suspend("initech", reason="abuse report under review")
        suspended = client.get("/v1/me")
        gw.runtime.partners.reinstate("initech")
        assert client.get("/v1/me").status_code == 200
        gw.runtime.partners.revoke_key(issued.key_id)
        revoked = client.get("/v1/me")
    assert suspended.status_code == 403 and revoked.status_code == 401


def test_rate_limit_answers_429_with_retry_after(world):
    gw = world["gw"]
    _, issued = gw.runtime.partners.add("hasty", use_cases=["education"], rate_per_minute=3)
    while time.time() % 60 > 50:  # the five requests fall in one rate window
        time.sleep(0.5)
    with gw.client(issued.plaintext) as client:
        codes = [client.get("/v1/me") for _ in range(5)]
    assert [r.status_code for r in codes[:3]] == [200, 200, 200]
    limited = codes[3]
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.json()["error"]["code"] == "rate_limited"
