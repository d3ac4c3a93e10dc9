"""The jobs table on SQLite and PostgreSQL: one claim wins, fenced transitions, leases, recovery, quota under
concurrency and idempotency keys — and the whole gateway over real HTTP on each database."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from gateway_factories import (
    SHARED_DATA,
    jpeg,
    live_gateway,
    needs_shared_data,
    person,
    register_consent,
    speech_wav,
    submit_generation,
    wait_for,
)

from gateway.settings import Settings
from generations import MAX_ATTEMPTS, JobCreate, JobStatus, JobStore, QuotaExceeded


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def job(n: int, *, partner: str = "ptn_a", key: str | None = None) -> JobCreate:
    return JobCreate(id=f"gen_{n:016x}", partner_id=partner, partner_name="acme", api_key_id="key_1",
                     consent_id="cns_1", consent_revision=1, purpose="education", request_sha256=f"{n:064x}",
                     portrait_sha256="1" * 64, audio_sha256="2" * 64, policy_version="v1", idempotency_key=key)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(engine, clock) -> JobStore:
    return JobStore(engine, clock=clock)


def test_of_many_concurrent_claims_exactly_one_wins(store):
    store.create(job(1))
    winners: list[object] = []
    barrier = threading.Barrier(8)

    def claim(i: int) -> None:
        barrier.wait()
        got = store.claim("gen_0000000000000001", worker=f"w{i}", lease_s=60)
        if got is not None:
            winners.append(got.worker)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert store.get("gen_0000000000000001").attempts == 1


def test_a_superseded_attempt_cannot_finish_the_job(store, clock):
    store.create(job(2))
    first = store.claim("gen_0000000000000002", worker="w1", lease_s=10)
    clock.now += timedelta(seconds=11)  # w1's lease expired: w2 takes over
    second = store.claim("gen_0000000000000002", worker="w2", lease_s=10)
    assert second is not None and second.attempts == 2
    assert store.renew(first, lease_s=10) is False
    assert store.finish(first, JobStatus.RELEASED, output_sha256="f" * 64) is False
    assert store.finish(second, JobStatus.RELEASED, output_sha256="e" * 64) is True
    assert store.get(second.id).output_sha256 == "e" * 64


def test_recovery_requeues_lost_jobs_and_fails_those_out_of_attempts(store, clock):
    store.create(job(3))
    store.create(job(4))
    for attempt in range(MAX_ATTEMPTS):
        claimed = store.claim("gen_0000000000000004", worker="w", lease_s=5)
        assert claimed is not None and claimed.attempts == attempt + 1
        clock.now += timedelta(seconds=6)
    store.claim("gen_0000000000000003", worker="w", lease_s=5)
    clock.now += timedelta(seconds=6)
    again, dead = store.stale(queued_for=timedelta(seconds=60))
    assert again == ["gen_0000000000000003"] and dead == ["gen_0000000000000004"]
    lost = store.get("gen_0000000000000004")
    assert lost.status == "failed" and lost.error_code == "worker_lost"
    assert store.claim("gen_0000000000000004", worker="w", lease_s=5) is None


def test_quota_holds_under_concurrent_creates(store):
    accepted: list[str] = []
    refused: list[str] = []
    barrier = threading.Barrier(6)

    def create(n: int) -> None:
        barrier.wait()
        try:
            accepted.append(store.create(job(100 + n), quota_limit=3, quota_period=timedelta(days=30)).id)
        except QuotaExceeded:
            refused.append(str(n))

    threads = [threading.Thread(target=create, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(accepted) == 3 and len(refused) == 3
    assert store.quota_used("ptn_a", period=timedelta(days=30))[0] == 3


def test_an_idempotency_key_maps_to_one_job(store):
    first = store.create(job(200, key="order-1"))
    twin = store.create(job(201, key="order-1"))  # a racing twin: the unique key returns the first job
    assert twin.id == first.id
    assert store.find_idempotent("ptn_a", key="order-1").id == first.id
    assert store.create(job(202, key="order-1", partner="ptn_b")).id == "gen_00000000000000ca"


def test_lists_and_reads_are_per_partner(store):
    store.create(job(300, partner="ptn_a"))
    store.create(job(301, partner="ptn_b"))
    assert [j.id for j in store.list_for("ptn_a")] == ["gen_000000000000012c"]
    assert store.get_for("gen_000000000000012d", partner_id="ptn_a") is None


@needs_shared_data
def test_the_gateway_releases_a_video_on_this_database(engine, tmp_path):
    """The whole path over HTTP with this database behind it (LIKENESS_DATABASE_URL)."""
    url = engine.url.render_as_string(hide_password=False)
    settings = Settings.for_tests(tmp_path / "var", database_url=url)
    alice = person(SHARED_DATA, "lp_d11")
    with live_gateway(settings) as gw:
        _, issued = gw.runtime.partners.add("acme", use_cases=["education"], rate_per_minute=1000)
        consent_id, _ = register_consent(gw.runtime, alice)
        with gw.client(issued.plaintext) as client:
            job_id = submit_generation(client, consent_id=consent_id, portrait=jpeg(alice.portraits[0]),
                                       audio=speech_wav("One, two, three.", tmp_path / "s.wav"))
            done = wait_for(client, job_id)
            video = client.get(f"/v1/generations/{done['id']}/video")
    assert done["status"] == "released" and video.status_code == 200
    assert gw.runtime.engine.dialect.name == engine.dialect.name
    assert gw.runtime.audit_log.verify().ok
