"""Jobs: the worker re-checks consent (a revocation before or during a job stops its release), and a
worker killed mid-job loses nothing: its lease expires, another worker takes the job, and the video
is released exactly once — with the SQLite queue and with a real Redis server and `likeness worker`
processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gateway_factories import jpeg, live_gateway, needs_shared_data, register_consent, speech_wav, while_rendering
from live_server import free_port

from audit import AuditKind
from gateway.settings import Settings
from generations import JobStatus

pytestmark = needs_shared_data

LONG_TEXT = ("Today we will talk about the solar system. The sun is a star at its centre, and eight planets "
             "travel around it. Mercury is the closest and Neptune is the farthest. Between Mars and Jupiter "
             "lies the asteroid belt, and far beyond Neptune we find the Kuiper belt and many small icy worlds.")


@pytest.fixture(scope="module")
def long_speech(tmp_path_factory) -> bytes:
    return speech_wav(LONG_TEXT, tmp_path_factory.mktemp("s") / "long.wav")


def _kinds(gw, job_id: str) -> list[str]:
    return [e.kind for e in gw.runtime.audit_log.search(generation_id=job_id, limit=50)]


def test_a_consent_revoked_before_the_job_runs_cancels_it(idle_gateway, alice, speech):
    gw = idle_gateway
    consent_id, token = register_consent(gw.runtime, alice)
    job_id = gw.submit(gw.key, consent_id=consent_id, portrait=jpeg(alice.portraits[0]), audio=speech)
    gw.runtime.registry.revoke(consent_id, token=token, reason="changed my mind")
    worker = gw.runtime.attach_worker()
    assert worker.run(job_id) == JobStatus.CANCELLED
    job = gw.runtime.jobs.get(job_id)
    assert job.status == "cancelled" and job.error_code == "consent_withdrawn"
    assert not gw.runtime.blobs.output_path(job_id).exists()
    assert not (gw.runtime.blobs.inputs_root / job_id).exists()
    assert "generation.cancelled" in _kinds(gw, job_id)
    assert worker.run(job_id) == "skipped"  # a duplicated queue message does nothing


def test_a_consent_revoked_while_rendering_stops_the_release(idle_gateway, alice, long_speech):
    gw = idle_gateway
    consent_id, token = register_consent(gw.runtime, alice)
    job_id = gw.submit(gw.key, consent_id=consent_id, portrait=jpeg(alice.portraits[0]), audio=long_speech)
    worker = gw.runtime.attach_worker()
    revoke = lambda: gw.runtime.registry.revoke(consent_id, token=token, reason="stop now")  # noqa: E731
    with while_rendering(worker, at_frame=10, do=revoke):  # the person revokes while the frames are rendered
        assert worker.run(job_id) == JobStatus.CANCELLED
    assert gw.runtime.jobs.get(job_id).status == "cancelled"
    outputs = gw.runtime.blobs.outputs_root
    assert not outputs.exists() or not list(outputs.iterdir())  # nothing released, no temporary left
    assert gw.runtime.registry.generations_for(consent_id, token=token) == []


@pytest.fixture
def redis_url(tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed (.ci/run installs it)")
    port = free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


def _worker(settings: Settings, log: Path) -> subprocess.Popen:
    env = {**os.environ, "LIKENESS_DATA_DIR": str(settings.data_dir), "LIKENESS_JOB_LEASE_S": "3",
           "LIKENESS_RECOVER_EVERY_S": "0.5"}
    if settings.redis_url:
        env["LIKENESS_REDIS_URL"] = settings.redis_url
    likeness = Path(sys.executable).with_name("likeness")
    return subprocess.Popen([str(likeness), "worker", "--threads", "1"], env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.parametrize("queue", ["sqlite", "redis"])
def test_a_worker_killed_mid_job_loses_nothing(queue, request, tmp_path, alice, long_speech):
    extra = {"redis_url": request.getfixturevalue("redis_url")} if queue == "redis" else {}
    settings = Settings.for_tests(tmp_path / "var", job_lease_s=3.0, **extra)
    with live_gateway(settings, run_jobs=False) as gw:
        assert gw.runtime.queue.backend == queue
        _, issued = gw.runtime.partners.add("acme", use_cases=["education"], rate_per_minute=1000)
        consent_id, token = register_consent(gw.runtime, alice)
        job_id = gw.submit(issued.plaintext, consent_id=consent_id, portrait=jpeg(alice.portraits[0]),
                           audio=long_speech)
        log = tmp_path / "workers.log"
        first = _worker(settings, log)
        try:
            deadline = time.monotonic() + 120
            while gw.runtime.jobs.get(job_id).status != "running":
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.05)
            time.sleep(1.0)  # mid-render
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
        killed = gw.runtime.jobs.get(job_id)
        assert killed.status == "running" and killed.attempts == 1, "the kill must land before the release"
        second = _worker(settings, log)
        try:
            deadline = time.monotonic() + 240
            while (job := gw.runtime.jobs.get(job_id)).status not in ("released", "failed", "cancelled"):
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.2)
        finally:
            os.killpg(second.pid, signal.SIGTERM)
            second.wait(timeout=30)
    assert job.status == "released" and job.attempts == 2, log.read_text()[-2000:]
    released = gw.runtime.audit_log.search(kind=AuditKind.GENERATION_RELEASED, generation_id=job_id, limit=10)
    assert len(released) == 1
    outputs = sorted(p.name for p in gw.runtime.blobs.outputs_root.iterdir())
    assert outputs == [f"{job_id}.mp4"]  # no temporary file of the killed attempt is left
    import hashlib

    assert hashlib.sha256(gw.runtime.blobs.output_path(job_id).read_bytes()).hexdigest() == job.output_sha256
    assert [g.generation_id for g in gw.runtime.registry.generations_for(consent_id, token=token)] == [job_id]
    assert gw.runtime.audit_log.verify().ok
