"""A live session's job is never queued or claimed by a worker; when its server dies, recovery fails it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import SQLModel, create_engine

from generations import JobCreate, JobStatus, JobStore
from generations.models import JobKind, SessionState
from generations.sessions import SessionCreate, SessionStore, new_session_token


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 8, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _create(store: JobStore, job_id: str, *, live: bool) -> None:
    store.create(JobCreate(id=job_id, partner_id="ptn_1", partner_name="acme", api_key_id="k1", consent_id="cns_1",
                           consent_revision=1, purpose="education", request_sha256="0" * 64,
                           portrait_sha256="1" * 64, audio_sha256="2" * 64, policy_version="p1",
                           live_server="host:1" if live else None, live_lease_s=150))


def test_a_live_job_is_never_claimed_and_fails_as_session_lost_when_its_lease_lapses():
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    clock = Clock()
    jobs, sessions = JobStore(engine, clock=clock), SessionStore(engine, clock=clock)
    _create(jobs, "gen_00000000000000a1", live=True)
    _create(jobs, "gen_00000000000000b1", live=False)
    token = new_session_token()
    sessions.create(SessionCreate(id="gen_00000000000000a1", partner_id="ptn_1", token=token, ttl_s=120,
                                  max_seconds=600, segment_seconds=0.5))
    sessions.connect("gen_00000000000000a1", token=token, server="host:1")
    live = jobs.get("gen_00000000000000a1")
    assert live is not None and live.kind == JobKind.LIVE and live.status == JobStatus.RUNNING
    assert jobs.claim("gen_00000000000000a1", worker="w", lease_s=60) is None  # no worker takes a live job
    assert jobs.stale(queued_for=timedelta(seconds=60)) == ([], [])  # under its lease: nothing to do
    clock.now += timedelta(minutes=10)  # the server died: nobody renews the lease
    again, failed = jobs.stale(queued_for=timedelta(seconds=60))
    assert again == ["gen_00000000000000b1"] and failed == ["gen_00000000000000a1"]  # the batch job queued again
    lost = jobs.get("gen_00000000000000a1")
    assert lost is not None and lost.status == JobStatus.FAILED and lost.error_code == "session_lost"
    row = sessions.get("gen_00000000000000a1")
    assert row is not None and row.state == SessionState.CLOSED and row.end_reason == "session_lost"
