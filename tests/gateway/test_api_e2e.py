"""The partner API end to end over real HTTP: uvicorn on loopback, a real database, real faces, real jobs.

A partner key → create → poll → download a marked, signed MP4 that ``detect`` attributes to the
right generation; and the same request without consent, with another person's face, for a purpose
out of scope, after revocation, and over quota, each refused with the policies that decided —
every decision in the audit log.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gateway_factories import (
    SHARED_DATA,
    generation_form,
    jpeg,
    live_gateway,
    media_files,
    needs_shared_data,
    person,
    register_consent,
    speech_wav,
    tone_wav,
    wait_for,
)

from audit import AuditKind
from gateway.settings import Settings

pytestmark = needs_shared_data


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    settings = Settings.for_tests(tmp_path_factory.mktemp("gw") / "var", max_media_seconds=20.0)
    with live_gateway(settings) as live:
        yield live


@pytest.fixture(scope="module")
def alice_consent(gateway, alice) -> str:
    """Alice's one consent (one per person: a second one of the same face would make every match ambiguous)."""
    return register_consent(gateway.runtime, alice)[0]


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> bytes:
    return speech_wav("Hello, this is a short lesson about the planets.", tmp_path_factory.mktemp("s") / "s.wav")


@pytest.fixture(scope="module")
def acme(gateway):
    _, issued = gateway.runtime.partners.add("acme", use_cases=["education"], quota=100, rate_per_minute=1000)
    return issued.plaintext


def _decisions(gateway, consent_id: str) -> list[dict]:
    return [e.data | {"consent_id": e.consent_id} for e in gateway.runtime.audit_log.search(
        kind=AuditKind.GENERATION_DECIDED, consent_id=consent_id, limit=100)]


def test_a_partner_gets_a_marked_signed_video_that_detect_attributes(gateway, acme, alice, alice_consent, speech,
                                                                      tmp_path):
    consent_id = alice_consent
    with gateway.client(acme) as client:
        created = client.post("/v1/generations", data=generation_form(consent_id=consent_id),
                              files=media_files(jpeg(alice.portraits[0]), speech))
        assert created.status_code == 202, created.text
        job = created.json()
        assert created.headers["location"] == f"/v1/generations/{job['id']}"
        assert job["status"] in ("queued", "running", "released")
        assert job["decision"]["allowed"] is True and job["decision"]["reasons"] == ["generate-with-consent"]
        done = wait_for(client, job["id"])
        assert done["status"] == "released", done
        video = client.get(done["video_url"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    clip = tmp_path / "out.mp4"
    clip.write_bytes(video.content)
    assert hashlib.sha256(video.content).hexdigest() == done["output_sha256"]
    # `detect` as an analyst runs it, against this deployment's trust anchors and manifest repository
    detect = Path(sys.executable).with_name("detect")
    env = {**os.environ, "LIKENESS_DATA_DIR": str(gateway.settings.data_dir)}
    ran = subprocess.run([str(detect), str(clip), "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["c2pa"]["state"] == "trusted" and report["c2pa"]["generation_id"] == job["id"]
    assert report["watermark"]["found"] and report["watermark"]["generation_id"] == job["id"]
    assert report["verdict"].startswith("generated")
    # the person sees it on their consent; the log has the decision and the release
    kinds = [e.kind for e in gateway.runtime.audit_log.search(generation_id=job["id"], limit=10)]
    assert "generation.released" in kinds
    decided = _decisions(gateway, consent_id)
    assert decided and decided[-1]["allowed"] is True
    assert gateway.runtime.audit_log.verify().ok


def test_an_unknown_consent_is_refused_and_logged(gateway, acme, alice, speech):
    missing = "cns_" + "ab" * 16
    with gateway.client(acme) as client:
        response = client.post("/v1/generations", data=generation_form(consent_id=missing),
                               files=media_files(jpeg(alice.portraits[0]), speech))
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "consent_unknown" and [r["id"] for r in error["reasons"]] == ["consent-unknown"]
    assert _decisions(gateway, missing)[-1]["reasons"] == ["consent-unknown"]


def test_another_persons_face_is_refused(gateway, acme, alice_consent, bob, speech):
    consent_id = alice_consent
    with gateway.client(acme) as client:
        response = client.post("/v1/generations", data=generation_form(consent_id=consent_id),
                               files=media_files(jpeg(bob.portraits[0]), speech))
    assert response.status_code == 403, response.text
    reasons = [r["id"] for r in response.json()["error"]["reasons"]]
    assert reasons == ["identity-below-threshold"]
    decided = _decisions(gateway, consent_id)[-1]
    assert decided["allowed"] is False and decided["reasons"] == ["identity-below-threshold"]
    assert decided["identity"]["similarity"] < decided["identity"]["threshold"]


def test_a_purpose_outside_the_consent_is_refused(gateway, acme, alice, alice_consent, speech):
    consent_id = alice_consent
    with gateway.client(acme) as client:
        response = client.post("/v1/generations", data=generation_form(consent_id=consent_id, purpose="political"),
                               files=media_files(jpeg(alice.portraits[0]), speech))
    assert response.status_code == 403
    reasons = {r["id"] for r in response.json()["error"]["reasons"]}
    assert {"purpose-prohibited-by-consent", "purpose-not-declared-by-partner"} <= reasons
    assert set(_decisions(gateway, consent_id)[-1]["reasons"]) == reasons


def test_a_revoked_consent_is_refused(gateway, acme, speech):
    carol = person(SHARED_DATA, "lp_d6")
    consent_id, token = register_consent(gateway.runtime, carol)
    gateway.runtime.registry.revoke(consent_id, token=token, reason="changed my mind")
    with gateway.client(acme) as client:
        response = client.post("/v1/generations", data=generation_form(consent_id=consent_id),
                               files=media_files(jpeg(carol.portraits[0]), speech))
        check = client.post(f"/v1/consents/{consent_id}/check", json={"purpose": "education"})
    assert response.status_code == 403
    assert "consent-not-active" in {r["id"] for r in response.json()["error"]["reasons"]}
    assert check.status_code == 200 and check.json()["covered"] is False and check.json()["status"] == "revoked"


def test_over_quota_is_refused_with_retry_after(gateway, speech):
    _, issued = gateway.runtime.partners.add("thrifty", use_cases=["education"], quota=1, rate_per_minute=1000)
    dave = person(SHARED_DATA, "lp_d9")
    consent_id, _ = register_consent(gateway.runtime, dave, partners=["thrifty"])
    with gateway.client(issued.plaintext) as client:
        first = client.post("/v1/generations", data=generation_form(consent_id=consent_id),
                            files=media_files(jpeg(dave.portraits[0]), speech))
        second = client.post("/v1/generations", data=generation_form(consent_id=consent_id),
                             files=media_files(jpeg(dave.portraits[1]), speech))
        wait_for(client, first.json()["id"])
    assert first.status_code == 202
    assert second.status_code == 429 and int(second.headers["retry-after"]) > 0
    assert [r["id"] for r in second.json()["error"]["reasons"]] == ["quota-exhausted"]
    assert _decisions(gateway, consent_id)[-1]["reasons"] == ["quota-exhausted"]


def test_an_idempotent_retry_returns_the_same_job(gateway, acme, alice, alice_consent, speech):
    consent_id = alice_consent
    form = generation_form(consent_id=consent_id)
    files = media_files(jpeg(alice.portraits[2]), speech)
    with gateway.client(acme, headers={"Idempotency-Key": "order-42"}) as client:
        first = client.post("/v1/generations", data=form, files=files)
        again = client.post("/v1/generations", data=form, files=files)
        other = client.post("/v1/generations", data=generation_form(consent_id=consent_id, emotion="happy"),
                            files=files)
        wait_for(client, first.json()["id"])
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"


@pytest.mark.parametrize(("case", "status", "code"), [
    ("audio too long", 413, "audio_too_long"),
    ("portrait not an image", 415, "portrait_type"),
    ("empty portrait", 422, "portrait_empty"),
    ("corrupt audio", 422, "audio_unreadable"),
    ("portrait without a face", 422, "portrait_face"),
])
def test_bad_media_is_refused_precisely_and_logged(gateway, acme, alice, alice_consent, speech, case, status, code):
    portrait, audio = jpeg(alice.portraits[0]), speech
    if case == "audio too long":
        audio = tone_wav(25.0)  # the module's limit is 20 s
    elif case == "portrait not an image":
        portrait = speech
    elif case == "empty portrait":
        portrait = b""
    elif case == "corrupt audio":
        audio = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 8  # an MP4 of garbage
    elif case == "portrait without a face":
        import numpy as np

        portrait = jpeg(np.full((400, 400, 3), 128, np.uint8))
    before = len(list(gateway.runtime.blobs.inputs_root.glob("*"))) if gateway.runtime.blobs.inputs_root.exists() else 0
    with gateway.client(acme) as client:
        response = client.post("/v1/generations", data=generation_form(consent_id=alice_consent),
                               files=media_files(portrait, audio))
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and "Traceback" not in response.text
    after = len(list(gateway.runtime.blobs.inputs_root.glob("*"))) if gateway.runtime.blobs.inputs_root.exists() else 0
    assert after == before  # nothing stored for a refused request
    logged = _decisions(gateway, alice_consent)[-1]
    assert logged["allowed"] is False
