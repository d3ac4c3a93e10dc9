"""The client's jobs against a real gateway: create → wait → download a signed, watermarked MP4 whose hash
the client checked; the same through the asyncio client; and a download whose bytes do not match is not kept."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from bmff_boxes import top_level_boxes
from gateway_factories import jpeg, needs_shared_data, register_consent

from gateway.deps import provenance_identity
from likeness.client import AsyncClient, Client, Generation, IntegrityError, StateConflictError
from provenance import verify_mp4

pytestmark = needs_shared_data


@pytest.fixture(scope="module")
def alice_consent(gateway, alice) -> str:
    return register_consent(gateway.runtime, alice)[0]


@pytest.fixture(scope="module")
def portrait(alice) -> bytes:
    return jpeg(alice.portraits[0])


@pytest.fixture(scope="module")
def released(gateway, acme, alice_consent, portrait, speech) -> Generation:
    """A job made and waited for through the client (the idempotency key: ``lesson-1``)."""
    with Client(base_url=gateway.url, api_key=acme) as client:
        job = client.create_generation(portrait=portrait, audio=speech, consent_id=alice_consent,
                                       purpose="education", emotion="happy", seed=7, idempotency_key="lesson-1")
        assert job.status in ("queued", "running", "released") and job.decision.allowed
        return client.wait(job.id, timeout_s=300, poll_s=0.2)


def test_create_wait_download_gives_the_released_signed_video(gateway, acme, released, tmp_path):
    assert released.status == "released" and released.video_url == f"/v1/generations/{released.id}/video"
    assert released.controls["emotion"] == "happy" and released.controls["seed"] == 7
    with Client(base_url=gateway.url, api_key=acme) as client:
        path = client.download(released.id, dest=tmp_path / "lesson.mp4")
        into_folder = client.download(released.id, dest=tmp_path)
    data = path.read_bytes()
    assert path == tmp_path / "lesson.mp4" and into_folder == tmp_path / f"{released.id}.mp4"
    assert hashlib.sha256(data).hexdigest() == released.output_sha256 and len(data) == released.output_bytes
    assert into_folder.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["lesson.mp4", f"{released.id}.mp4"])  # no temps
    assert top_level_boxes(data)[0] == "ftyp" and {"moov", "mdat", "uuid"} <= set(top_level_boxes(data))
    report = verify_mp4(path, trust_anchors_pem=provenance_identity(gateway.settings).trust_anchors_pem)
    assert report.state == "trusted" and report.generation_id == released.id


def test_the_idempotency_key_answers_the_same_job(gateway, acme, alice_consent, portrait, speech, released):
    with Client(base_url=gateway.url, api_key=acme) as client:
        again = client.create_generation(portrait=portrait, audio=speech, consent_id=alice_consent,
                                         purpose="education", emotion="happy", seed=7, idempotency_key="lesson-1")
        with pytest.raises(StateConflictError) as refused:
            client.create_generation(portrait=portrait, audio=speech, consent_id=alice_consent,
                                     purpose="education", emotion="sad", idempotency_key="lesson-1")
    assert again.id == released.id
    assert refused.value.status == 409 and refused.value.code == "idempotency_conflict"


def test_the_async_client_lists_reads_and_downloads(gateway, acme, alice_consent, released, tmp_path):
    async def scenario():
        async with AsyncClient(base_url=gateway.url, api_key=acme) as client:
            page = await client.list_generations(limit=10, status="released")
            job = await client.get_generation(released.id)
            waited = await client.wait(released.id, timeout_s=5)
            path = await client.download(released.id, dest=tmp_path / "async.mp4")
            me = await client.me()
            check = await client.check_consent(alice_consent, purpose="education")
        return page, job, waited, path, me, check

    page, job, waited, path, me, check = asyncio.run(scenario())
    assert released.id in [g.id for g in page.items] and all(g.status == "released" for g in page.items)
    assert job.output_sha256 == waited.output_sha256 == released.output_sha256
    assert hashlib.sha256(path.read_bytes()).hexdigest() == released.output_sha256
    assert me.name == "acme" and me.quota_used >= 1 and "generations:write" in me.scopes
    assert check.covered and check.status == "active" and check.consent_id == alice_consent


def test_a_video_that_does_not_match_its_hash_is_not_kept(gateway, acme, released, tmp_path):
    stored = gateway.runtime.blobs.output_path(released.id)
    original = stored.read_bytes()
    stored.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # one bit flipped on the server's disk
    try:
        with Client(base_url=gateway.url, api_key=acme) as client, pytest.raises(IntegrityError) as caught:
            client.download(released.id, dest=tmp_path / "bad.mp4")
    finally:
        stored.write_bytes(original)
    assert caught.value.code == "sha256_mismatch"
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temp
