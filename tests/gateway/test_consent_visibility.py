"""What a partner can learn about a consent: only consents that name it (or any vetted partner) answer at all;
any other consent — revoked, active or expired — answers exactly like one that does not exist, on the check
route and in the refusal of a generation. And a consent whose grant never reached the audit log (inserted into
the database) is refused like an unknown one. Two real partners over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from gateway_factories import jpeg, live_gateway, tone_wav

from consent import ConsentScope
from gateway.settings import Settings
from generations import grant_logged, log_grant

NOBODY = "cns_" + "0" * 32


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    settings = Settings.for_tests(tmp_path_factory.mktemp("visibility") / "var")
    with live_gateway(settings, run_jobs=False) as gw:
        _, a = gw.runtime.partners.add("acme", use_cases=["education"], rate_per_minute=1000)
        _, b = gw.runtime.partners.add("globex", use_cases=["education"], rate_per_minute=1000)
        yield {"gw": gw, "acme": a.plaintext, "globex": b.plaintext}


def _consent(gw, *, log: bool = True, **scope):
    fields = {"partners": ["acme"], "purposes": ["education"], **scope}
    consent, token = gw.runtime.registry.register(ConsentScope(**fields))
    if log:
        log_grant(gw.runtime.audit_log, consent, actor="subject")
    return consent, token


def _check(world, key: str, consent_id: str):
    with world["gw"].client(world[key]) as client:
        return client.post(f"/v1/consents/{consent_id}/check", json={"purpose": "education"})


def _generate(world, key: str, consent_id: str):
    portrait = jpeg(np.full((256, 256, 3), 127, np.uint8))  # readable; never matched: the consent check refuses first
    with world["gw"].client(world[key]) as client:
        return client.post("/v1/generations", data={"consent_id": consent_id, "purpose": "education"},
                           files={"portrait": ("p.jpg", portrait, "image/jpeg"),
                                  "audio": ("s.wav", tone_wav(), "audio/wav")})


def _same_as_unknown(response, unknown, consent_id: str) -> None:
    assert response.status_code == unknown.status_code == 404
    assert response.headers.get("content-type") == unknown.headers.get("content-type")
    assert response.text.replace(consent_id, NOBODY) == unknown.text


def test_partner_b_cannot_tell_partner_as_revoked_consent_from_one_that_does_not_exist(world):
    gw = world["gw"]
    consent, token = _consent(gw)
    gw.runtime.registry.revoke(consent.id, token=token, reason="changed my mind")
    mine = _check(world, "acme", consent.id)
    assert mine.status_code == 200 and mine.json()["status"] == "revoked"  # the named partner is told
    for call in (_check, _generate):
        theirs, unknown = call(world, "globex", consent.id), call(world, "globex", NOBODY)
        _same_as_unknown(theirs, unknown, consent.id)
        assert "revoked" not in theirs.text and "consent_unknown" in theirs.text


@pytest.mark.parametrize("scope", [{}, {"valid_until": datetime.now(UTC) + timedelta(days=1)},
                                   {"partners": ["acme", "initech"], "purposes": "any"}])
def test_an_active_consent_naming_another_partner_answers_404_like_an_unknown_one(world, scope):
    consent, _ = _consent(world["gw"], **scope)
    assert _check(world, "acme", consent.id).json()["covered"] is True
    for call in (_check, _generate):
        _same_as_unknown(call(world, "globex", consent.id), call(world, "globex", NOBODY), consent.id)


def test_a_consent_for_any_vetted_partner_answers_every_partner(world):
    consent, _ = _consent(world["gw"], partners="any_vetted")
    for key in ("acme", "globex"):
        answer = _check(world, key, consent.id)
        assert answer.status_code == 200 and answer.json()["covered"] is True


def test_the_audit_log_records_why_without_telling_the_partner(world):
    gw = world["gw"]
    consent, _ = _consent(gw)
    _check(world, "globex", consent.id)
    [entry] = gw.runtime.audit_log.search(kind="consent.checked", consent_id=consent.id)
    assert entry.data["reasons"] == ["consent-not-for-partner"] and entry.data["allowed"] is False


def test_a_consent_whose_grant_is_not_in_the_audit_log_is_refused_like_an_unknown_one(world):
    gw = world["gw"]
    consent, _ = _consent(gw, log=False)  # in the database, signed, but never logged
    assert not grant_logged(gw.runtime.audit_log, consent)
    for call in (_check, _generate):
        _same_as_unknown(call(world, "acme", consent.id), call(world, "acme", NOBODY), consent.id)
    reasons = [e.data["reasons"] for e in gw.runtime.audit_log.search(consent_id=consent.id)]
    assert reasons == [["consent-grant-not-logged"], ["consent-grant-not-logged"]]
    log_grant(gw.runtime.audit_log, consent, actor="subject")  # logged now: the same consent answers
    assert grant_logged(gw.runtime.audit_log, consent)
    assert _check(world, "acme", consent.id).json()["covered"] is True


def test_a_logged_grant_with_another_hash_does_not_count(world):
    gw = world["gw"]
    consent, _ = _consent(gw, log=False)
    gw.runtime.audit_log.append("consent.granted", actor="subject", consent_id=consent.id,
                                data={"revision": 1, "head_hash": "ab" * 32})
    assert not grant_logged(gw.runtime.audit_log, consent)
    assert _check(world, "acme", consent.id).status_code == 404
