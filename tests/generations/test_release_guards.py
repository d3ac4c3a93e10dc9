"""What the worker re-checks before a video leaves, what a revocation or an erasure deletes, and who can read
the data dir (issue 13, findings 5, 6, 7 and 12).

- The inputs are read back by hash: a portrait or audio file swapped on disk after the gate fails the job
  (``input_tampered``), logged, with no output.
- The partner and the policy are asked again, like the consent: a partner suspended after the gate, or a
  policy set that now refuses, cancels the job before release, with reasons in the audit log.
- Revoking or erasing through the portal deletes the consent's released videos from disk; the jobs and the
  person's management page say so; a video released while the deletion pass ran is deleted too.
- Every folder under the data dir is 0700 and every file 0600 after a full generation, but the public
  certificates; ``likeness keys init`` tightens an existing data dir.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from gateway_factories import (
    jpeg,
    live_gateway,
    needs_shared_data,
    register_consent,
    speech_wav,
    submit_generation,
    wait_for,
    while_rendering,
)

from audit import AuditKind
from gateway.runtime import PUBLIC_FILES, Runtime, secure_data_dir_of
from gateway.settings import Settings
from generations import BlobStore, InputTamperedError, JobStatus
from policy import DEFAULT_POLICY_DIR

pytestmark = needs_shared_data


@pytest.fixture(scope="module")
def other_words(tmp_path_factory) -> bytes:
    return speech_wav("Vote for me on Tuesday.", tmp_path_factory.mktemp("s") / "other.wav")


def _entries(gw, job_id: str, kind: str) -> list:
    return [e for e in gw.runtime.audit_log.search(generation_id=job_id, limit=50) if e.kind == kind]


def _nothing_released(gw, job_id: str) -> None:
    outputs = gw.runtime.blobs.outputs_root
    assert not outputs.exists() or not list(outputs.iterdir())
    assert not (gw.runtime.blobs.inputs_root / job_id).exists()
    assert _entries(gw, job_id, "generation.released") == []


# ------------------------------------------------------------------ finding 5: inputs verified by hash

@pytest.mark.parametrize("role", ["portrait", "audio"])
def test_an_input_swapped_on_disk_after_the_gate_fails_the_job_with_no_output(idle_gateway, alice, bob, speech,
                                                                              other_words, role):
    gw = idle_gateway
    consent_id, _ = register_consent(gw.runtime, alice)
    job_id = gw.submit(gw.key, consent_id=consent_id, portrait=jpeg(alice.portraits[0]), audio=speech)
    stored = gw.runtime.blobs.input_of(job_id, role=role)
    # another person's face under alice's consent; or other words in her voice's place
    swapped = jpeg(bob.portraits[0]) if role == "portrait" else other_words
    stored.write_bytes(swapped)
    worker = gw.runtime.attach_worker()
    assert worker.run(job_id) == JobStatus.FAILED
    job = gw.runtime.jobs.get(job_id)
    assert job.status == "failed" and job.error_code == "input_tampered"
    _nothing_released(gw, job_id)
    assert gw.runtime.worker.repository.by_generation_id(job_id) is None
    [failed] = _entries(gw, job_id, "generation.failed")
    assert failed.data["error_code"] == "input_tampered" and failed.data["role"] == role
    assert failed.data["expected_sha256"] == getattr(job, f"{role}_sha256")
    assert failed.data["found_sha256"] == hashlib.sha256(swapped).hexdigest()
    with gw.client(gw.key) as client:
        assert client.get(f"/v1/generations/{job_id}/video").status_code == 410


def test_read_verified_returns_the_bytes_it_hashed_and_refuses_a_link(tmp_path):
    store = BlobStore(tmp_path)
    job_id = "gen_00000000000000ab"
    data = b"\xff\xd8 the portrait the gate checked"
    path = store.put_input(job_id, name="portrait.jpg", data=data)
    digest = hashlib.sha256(data).hexdigest()
    assert store.read_verified(job_id, role="portrait", sha256=digest) == data
    with pytest.raises(InputTamperedError):
        store.read_verified(job_id, role="portrait", sha256=digest, max_bytes=len(data) - 1)
    elsewhere = tmp_path / "elsewhere.jpg"
    elsewhere.write_bytes(data)  # the same bytes, behind a link: refused all the same
    path.unlink()
    path.symlink_to(elsewhere)
    with pytest.raises(InputTamperedError, match="link"):
        store.read_verified(job_id, role="portrait", sha256=digest)


# ------------------------------------------------------------------ finding 12: partner and policy re-checked

def test_a_partner_suspended_after_the_gate_gets_no_video(idle_gateway, alice, speech):
    gw = idle_gateway
    consent_id, _ = register_consent(gw.runtime, alice)
    before = gw.submit(gw.key, consent_id=consent_id, portrait=jpeg(alice.portraits[0]), audio=speech)
    during = gw.submit(gw.key, consent_id=consent_id, portrait=jpeg(alice.portraits[1]), audio=speech)
    gw.runtime.partners.suspend("acme", reason="misuse reported")
    worker = gw.runtime.attach_worker()
    assert worker.run(before) == JobStatus.CANCELLED  # suspended before the job ran
    job = gw.runtime.jobs.get(before)
    assert job.error_code == "partner_suspended" and "misuse reported" in job.error
    [cancelled] = _entries(gw, before, "generation.cancelled")
    assert cancelled.data["reasons"] == ["partner-suspended"] and cancelled.data["stage"] == "before_generation"
    _nothing_released(gw, before)

    gw.runtime.partners.reinstate("acme")
    suspend = lambda: gw.runtime.partners.suspend("acme", reason="suspended mid-render")  # noqa: E731
    with while_rendering(worker, at_frame=5, do=suspend):  # an operator suspends the partner while it renders
        assert worker.run(during) == JobStatus.CANCELLED  # suspended while rendering: stopped before release
    assert gw.runtime.jobs.get(during).error_code == "partner_suspended"
    [cancelled] = _entries(gw, during, "generation.cancelled")
    assert cancelled.data["stage"] in ("during_generation", "before_release")
    _nothing_released(gw, during)
    assert gw.runtime.worker.repository.by_generation_id(during) is None


def test_a_policy_that_now_refuses_stops_the_release_and_one_that_still_allows_does_not(tmp_path, alice, speech):
    """A worker started under a changed policy set (another version) decides again with the facts the gate kept."""
    data_dir = tmp_path / "var"
    changed = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, changed)
    (changed / "suspension.cedar").write_text(
        '@id("globex-paused")\n@reason("generations for globex are paused pending a review")\n'
        'forbid (principal, action == Likeness::Action::"generate", resource)\n'
        'when { principal.name == "globex" };\n')
    with live_gateway(Settings.for_tests(data_dir), run_jobs=False) as gw:
        _, acme = gw.runtime.partners.add("acme", use_cases=["education"], rate_per_minute=1000)
        _, globex = gw.runtime.partners.add("globex", use_cases=["education"], rate_per_minute=1000)
        consent_id, _ = register_consent(gw.runtime, alice, partners=["acme", "globex"])
        allowed = gw.submit(acme.plaintext, consent_id=consent_id, portrait=jpeg(alice.portraits[0]),
                            audio=speech)
        refused = gw.submit(globex.plaintext, consent_id=consent_id, portrait=jpeg(alice.portraits[1]),
                            audio=speech)
        accepted_under = gw.runtime.jobs.get(refused).policy_version
        later = Runtime.build(Settings.for_tests(data_dir, policy_dir=changed))
        assert later.policies.version != accepted_under
        worker = later.attach_worker()
        assert worker.run(refused) == JobStatus.CANCELLED
        job = gw.runtime.jobs.get(refused)
        assert job.error_code == "policy_denied" and "paused pending a review" in job.error
        [cancelled] = _entries(gw, refused, "generation.cancelled")
        assert cancelled.data["reasons"] == ["globex-paused"]
        assert cancelled.data["current_policy_version"] == later.policies.version
        _nothing_released(gw, refused)
        # the same changed policy still allows acme: the identity match the gate made is what it re-reads
        assert worker.run(allowed) == JobStatus.RELEASED
        assert gw.runtime.blobs.output_path(allowed).is_file()


# ------------------------------------------------------------------ finding 7: revocation and erasure delete videos

class _Portal:
    """The person's browser on the management pages: cookies, and the CSRF value of the last page."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, follow_redirects=False, timeout=60)
        self.page = ""

    def get(self, path: str) -> httpx.Response:
        response = self.http.get(path)
        self.page = response.text
        return response

    def post(self, path: str, **data: str) -> httpx.Response:
        csrf = re.search(r'name="csrf" value="([^"]+)"', self.page)
        assert csrf, "no CSRF field on the page"
        response = self.http.post(path, data={"csrf": csrf.group(1), **data})
        if response.headers.get("content-type", "").startswith("text/html"):
            self.page = response.text
        return response

    def sign_in(self, consent_id: str, token: str) -> None:
        self.get("/consent/manage")
        assert self.post("/consent/manage/sign-in", consent_id=consent_id, token=token).status_code == 303
        self.get("/consent/manage")


def _released(gw, consent_id: str, portrait: bytes, speech: bytes) -> str:
    job_id = gw.submit(gw.key, consent_id=consent_id, portrait=portrait, audio=speech)
    assert gw.runtime.attach_worker().run(job_id) == JobStatus.RELEASED
    assert gw.runtime.blobs.output_path(job_id).is_file()
    return job_id


def _deleted_everywhere(gw, job_id: str, *, reason: str, cause: str) -> None:
    assert not gw.runtime.blobs.output_path(job_id).exists()
    assert list(gw.runtime.blobs.outputs_root.iterdir()) == []
    job = gw.runtime.jobs.get(job_id)
    assert job.status == "released" and job.output_deleted_at is not None and job.output_deleted_reason == reason
    [entry] = _entries(gw, job_id, AuditKind.GENERATION_OUTPUT_DELETED)
    assert entry.data["cause"] == cause and entry.data["output_sha256"] == job.output_sha256
    assert entry.data["file_was_present"] is True
    with gw.client(gw.key) as client:
        assert client.get(f"/v1/generations/{job_id}/video").status_code == 410
        shown = client.get(f"/v1/generations/{job_id}").json()
    assert shown["output_deleted_at"] is not None and shown["output_deleted_reason"] == reason
    assert gw.runtime.audit_log.verify().ok


@pytest.mark.parametrize("how", ["revoke", "erase"])
def test_revoking_or_erasing_in_the_portal_deletes_the_released_videos(idle_gateway, alice, speech, how):
    gw = idle_gateway
    consent_id, token = register_consent(gw.runtime, alice)
    job_id = _released(gw, consent_id, jpeg(alice.portraits[0]), speech)
    portal = _Portal(gw.url)
    portal.sign_in(consent_id, token)
    assert job_id in portal.page and "Stored" in portal.page and 'id="videos-deleted"' not in portal.page
    if how == "revoke":
        assert portal.post("/consent/manage/revoke", reason="I changed my mind").status_code == 303
        reason = "consent revoked"
    else:
        portal.get("/consent/manage/erase")
        assert portal.post("/consent/manage/erase", confirm="yes").status_code == 303
        reason = "subject erased their data"
    _deleted_everywhere(gw, job_id, reason=reason, cause={"revoke": "consent.revoked", "erase": "consent.erased"}[how])
    page = portal.get("/consent/manage").text
    assert job_id in page  # still listed: the record of what was done stays
    assert 'id="videos-deleted"' in page and "This video has been deleted from our storage" in page
    assert "Deleted on" in page and reason in page


def test_a_video_released_while_the_deletion_pass_runs_is_deleted_too(idle_gateway, alice, speech):
    """The revocation lands between the worker's last check and the job becoming ``released``: the pass finds
    the job still running and deletes nothing; the worker's look after release deletes it."""
    gw = idle_gateway
    consent_id, token = register_consent(gw.runtime, alice)
    job_id = gw.submit(gw.key, consent_id=consent_id, portrait=jpeg(alice.portraits[0]), audio=speech)
    worker = gw.runtime.attach_worker()
    jobs = worker.jobs
    passes: list[list[str]] = []

    def finish(job, status, **values):
        if status == JobStatus.RELEASED:
            gw.runtime.registry.revoke(consent_id, token=token, reason="stop now")
            passes.append(gw.runtime.delete_outputs([consent_id], cause="consent.revoked"))
        return type(jobs).finish(jobs, job, status, **values)

    jobs.finish = finish  # type: ignore[method-assign]
    try:
        assert worker.run(job_id) == JobStatus.RELEASED
    finally:
        del jobs.finish
    assert passes == [[]]  # the revocation's own pass came too early to see the video
    _deleted_everywhere(gw, job_id, reason="consent revoked", cause="consent.revoked")
    [deleted] = gw.runtime.registry.generations_for(consent_id, token=token)
    assert deleted.generation_id == job_id and deleted.output_deleted_at is not None


def test_the_recovery_loop_deletes_videos_a_revocation_left_behind(idle_gateway, alice, speech):
    """A revocation recorded without its deletion pass (the process stopped in between, or a path with no hook):
    the workers' recovery loop finds the video and deletes it."""
    gw = idle_gateway
    consent_id, token = register_consent(gw.runtime, alice)
    job_id = _released(gw, consent_id, jpeg(alice.portraits[0]), speech)
    worker = gw.runtime.worker
    queued: list[str] = []
    worker.recover(queued.append)
    assert gw.runtime.blobs.output_path(job_id).is_file()  # nothing withdrawn yet: nothing deleted
    gw.runtime.registry.revoke(consent_id, token=token, reason="changed my mind")  # no portal, no hook
    assert gw.runtime.blobs.output_path(job_id).is_file()
    worker.recover(queued.append)
    assert queued == []
    _deleted_everywhere(gw, job_id, reason="consent revoked", cause="consent.revoked")
    worker.recover(queued.append)  # a second pass finds nothing more to do
    assert len(_entries(gw, job_id, AuditKind.GENERATION_OUTPUT_DELETED)) == 1


# ------------------------------------------------------------------ finding 6: the data dir is private

def _readable_by_others(root: Path) -> list[str]:
    public = {root / name for name in PUBLIC_FILES}
    found = []
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            if stat.S_IMODE(path.lstat().st_mode) & 0o077 and path not in public:
                found.append(f"{oct(stat.S_IMODE(path.lstat().st_mode))} {path.relative_to(root)}")
    if stat.S_IMODE(root.stat().st_mode) & 0o077:
        found.append(f"{oct(stat.S_IMODE(root.stat().st_mode))} .")
    return sorted(found)


@pytest.fixture
def loose_umask():
    previous = os.umask(0o022)  # the usual umask: what the code must not depend on
    yield
    os.umask(previous)


def test_after_a_full_generation_nothing_in_the_data_dir_is_readable_by_others(tmp_path, alice, speech,
                                                                                 loose_umask):
    data_dir = tmp_path / "var"
    with live_gateway(Settings.for_tests(data_dir)) as gw:  # jobs run in the server, as `likeness serve`
        _, issued = gw.runtime.partners.add("acme", use_cases=["education"], rate_per_minute=1000)
        consent_id, _ = register_consent(gw.runtime, alice)
        with gw.client(issued.plaintext) as client:
            job_id = submit_generation(client, consent_id=consent_id, portrait=jpeg(alice.portraits[0]), audio=speech)
            assert wait_for(client, job_id)["status"] == "released"
        walked = {p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*")}
        assert {"likeness.db", "likeness.db-wal", "jobs.db", f"outputs/{job_id}.mp4", "keys/root.pem"} <= walked
        assert _readable_by_others(data_dir) == []
    assert _readable_by_others(data_dir) == []
    assert stat.S_IMODE((data_dir / "keys" / "root.pem").stat().st_mode) == 0o644  # a public certificate


def test_an_existing_data_dir_open_to_others_is_tightened_once_with_a_warning(tmp_path, caplog, loose_umask):
    data_dir = tmp_path / "var"
    (data_dir / "outputs").mkdir(parents=True, mode=0o755)
    os.chmod(data_dir, 0o755)
    (data_dir / "likeness.db").write_bytes(b"")
    (data_dir / "outputs" / "gen_00000000000000aa.mp4").write_bytes(b"video")
    os.chmod(data_dir / "outputs", 0o755)
    settings = Settings.for_tests(data_dir)
    with caplog.at_level(logging.WARNING, logger="generations.storage"):
        changed = secure_data_dir_of(settings)
        again = secure_data_dir_of(settings)
    assert len(changed) == 4 and again == []
    assert len([r for r in caplog.records if "readable by other users" in r.getMessage()]) == 1
    assert _readable_by_others(data_dir) == []


def test_likeness_keys_init_tightens_the_data_dir(tmp_path, loose_umask):
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    (data_dir / "likeness.db").write_bytes(b"")
    os.chmod(data_dir / "likeness.db", 0o644)
    env = {**os.environ, "LIKENESS_DATA_DIR": str(data_dir)}
    env.pop("LIKENESS_DATABASE_URL", None)
    done = subprocess.run([str(Path(sys.executable).with_name("likeness")), "keys", "init"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "readable by other users" in done.stderr
    assert _readable_by_others(data_dir) == []
    assert stat.S_IMODE((data_dir / "keys" / "root.pem").stat().st_mode) == 0o644


# ------------------------------------------------------------------ the migration

def test_migration_0009_matches_the_models_keeps_deletions_append_only_and_goes_down_and_up(tmp_path):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import DBAPIError
    from sqlmodel import SQLModel

    from gateway.db import alembic_config, make_engine, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert [d for d in diffs if "output_deleted" in repr(d) or "consent_output_deletions" in repr(d)] == []
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO consent_subjects (id, created_at) VALUES ('sub_1', '2026-12-07 00:00:00')"))
        conn.execute(text("INSERT INTO consents (id, subject_id, current_revision, head_hash, token_prefix, "
                          "token_hash, created_at, signing_key_id, head_signature) VALUES ('cns_1', 'sub_1', 1, '', "
                          "'', '', '2026-12-07 00:00:00', '', x'00')"))
        conn.execute(text("INSERT INTO consent_output_deletions (consent_id, generation_id, reason, deleted_at) "
                          "VALUES ('cns_1', 'gen_00000000000000aa', 'consent revoked', '2026-12-07 00:00:00')"))
    for statement in ("UPDATE consent_output_deletions SET reason = 'never happened'",
                      "DELETE FROM consent_output_deletions"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    command.downgrade(alembic_config(engine), "0008")
    assert "consent_output_deletions" not in inspect(engine).get_table_names()
    assert "output_deleted_at" not in {c["name"] for c in inspect(engine).get_columns("generation_jobs")}
    upgrade(engine)
    assert "output_deleted_at" in {c["name"] for c in inspect(engine).get_columns("generation_jobs")}
