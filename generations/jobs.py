"""Generation jobs: the table that is the source of truth for every job's state, and its transitions.

::

    queued ──claim──▶ running ──▶ released            (output written, consent still in force)
      ▲                 │  ├────▶ cancelled           (consent revoked, expired or erased mid-job)
      └──lease expired──┘  └────▶ failed              (generation failed, or too many attempts)

A released job's video is deleted from storage when its consent is revoked or its subject
erased (:mod:`generations.retention`); the job stays ``released`` and says so in
``output_deleted_at`` and ``output_deleted_reason``.

A worker *claims* a job with one conditional UPDATE (status queued, or running with an expired
lease) and holds a lease it renews while rendering; every later transition is fenced by the
attempt number it claimed, so a worker that lost its lease (killed, paused, partitioned) can
never overwrite the result of the attempt that replaced it. The queue (Huey) only dispatches
job ids: a lost or duplicated queue message changes nothing, because :meth:`JobStore.claim`
decides who runs.

>>> from datetime import UTC, datetime
>>> from sqlmodel import SQLModel, create_engine
>>> engine = create_engine("sqlite://"); SQLModel.metadata.create_all(engine)   # the app runs the migrations
>>> store = JobStore(engine, clock=lambda: datetime(2026, 11, 25, 12, tzinfo=UTC))
>>> job = store.create(JobCreate(id="gen_00000000000000aa", partner_id="ptn_1", partner_name="acme", api_key_id="k1",
...     consent_id="cns_1", consent_revision=1, purpose="education", request_sha256="0" * 64,
...     portrait_sha256="1" * 64, audio_sha256="2" * 64, policy_version="p1"))
>>> claimed = store.claim(job.id, worker="w1", lease_s=60)
>>> claimed.status, claimed.attempts, store.claim(job.id, worker="w2", lease_s=60) is None
('running', 1, True)
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from generations.errors import JobStoreError, QuotaExceeded
from generations.models import (
    COUNTS_TOWARDS_QUOTA,
    FINAL,
    GenerationJob,
    JobKind,
    JobStatus,
    LiveSessionRow,
    SessionState,
    _now,
)
from likeness.db import store_session

MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class JobCreate:
    """What the gate accepted; the store adds status, attempts and times."""

    id: str
    partner_id: str
    partner_name: str
    api_key_id: str
    consent_id: str
    consent_revision: int
    purpose: str
    request_sha256: str
    portrait_sha256: str
    audio_sha256: str
    policy_version: str
    portrait_mime: str = "image/jpeg"
    audio_mime: str = "audio/wav"
    idempotency_key: str | None = None
    controls: dict[str, Any] | None = None
    transcript: str | None = None
    decision: dict[str, Any] | None = None
    live_server: str | None = None  # a live session's job: running at once in this server, never queued
    live_lease_s: float = 0.0


class JobStore:
    """Reads and moves generation jobs; every transition is one short transaction."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = _now) -> None:
        self._engine = engine
        self._clock = clock

    def _session(self) -> AbstractContextManager[Session]:
        return store_session(self._engine, error=JobStoreError, what="the jobs table")

    def now(self) -> datetime:
        return self._clock()

    # ------------------------------------------------------------------ creating

    def find_idempotent(self, partner_id: str, *, key: str) -> GenerationJob | None:
        with self._session() as session:
            return session.exec(select(GenerationJob).where(
                GenerationJob.partner_id == partner_id, GenerationJob.idempotency_key == key)).first()

    def create(self, job: JobCreate, *, quota_limit: int | None = None, quota_period: timedelta | None = None,
               ) -> GenerationJob:
        """Insert a queued job; with a quota, count the partner's jobs again under a lock first.

        Two requests racing past the gate cannot both take the last unit of quota: on PostgreSQL a
        transaction-level advisory lock per partner serialises the count and the insert, on SQLite
        the write transaction does (BEGIN IMMEDIATE).
        """
        now = self._clock()
        row = GenerationJob(
            id=job.id, partner_id=job.partner_id, partner_name=job.partner_name, api_key_id=job.api_key_id,
            idempotency_key=job.idempotency_key,
            request_sha256=job.request_sha256, consent_id=job.consent_id, consent_revision=job.consent_revision,
            purpose=job.purpose, controls=dict(job.controls or {}), transcript=job.transcript,
            portrait_sha256=job.portrait_sha256, portrait_mime=job.portrait_mime, audio_sha256=job.audio_sha256,
            audio_mime=job.audio_mime, policy_version=job.policy_version, decision=dict(job.decision or {}),
            status=JobStatus.QUEUED, created_at=now, updated_at=now,
        )
        if job.live_server is not None:  # held by the server that will hold its stream, under a lease it renews
            row.kind, row.status, row.attempts, row.worker = JobKind.LIVE, JobStatus.RUNNING, 1, job.live_server[:80]
            row.lease_until, row.started_at = now + timedelta(seconds=job.live_lease_s), now
        with self._session() as session:
            self._lock_partner(session, job.partner_id)
            if quota_limit is not None and quota_period is not None:
                used = self._count_since(session, job.partner_id, now - quota_period)
                if used >= quota_limit:
                    session.rollback()
                    raise QuotaExceeded(f"quota of {quota_limit} generations per "
                                        f"{quota_period.days} days is used up")
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                if job.idempotency_key is not None:
                    existing = self.find_idempotent(job.partner_id, key=job.idempotency_key)
                    if existing is not None:
                        return existing
                raise
        return row

    def _lock_partner(self, session: Session, partner_id: str) -> None:
        dialect = session.get_bind().dialect.name
        # ignores below: sqlmodel's exec() is typed for select/update/delete only; it runs text() as SQLAlchemy does
        if dialect == "postgresql":
            session.exec(text("SELECT pg_advisory_xact_lock(hashtext(:key))").bindparams(  # type: ignore[call-overload]
                key=f"likeness.jobs.{partner_id}"))
        elif dialect == "sqlite":
            # A write statement takes SQLite's one write lock at its start, even when it matches no
            # row: the count below then reads the latest state and no other writer can interleave.
            session.exec(text("UPDATE generation_jobs SET id = id WHERE 0"))  # type: ignore[call-overload]

    def _count_since(self, session: Session, partner_id: str, since: datetime) -> int:
        return session.exec(select(func.count()).select_from(GenerationJob).where(
            GenerationJob.partner_id == partner_id, col(GenerationJob.created_at) >= since,
            col(GenerationJob.status).in_([s.value for s in COUNTS_TOWARDS_QUOTA]))).one()

    def quota_used(self, partner_id: str, *, period: timedelta) -> tuple[int, datetime | None]:
        """Jobs that count towards the quota in the period, and when the oldest of them leaves it."""
        since = self._clock() - period
        with self._session() as session:
            used = self._count_since(session, partner_id, since)
            oldest = session.exec(select(func.min(GenerationJob.created_at)).where(
                GenerationJob.partner_id == partner_id, col(GenerationJob.created_at) >= since,
                col(GenerationJob.status).in_([s.value for s in COUNTS_TOWARDS_QUOTA]))).one()
        frees_at = None if oldest is None else _aware(oldest) + period
        return used, frees_at

    # ------------------------------------------------------------------ reading

    def get(self, job_id: str) -> GenerationJob | None:
        with self._session() as session:
            return session.get(GenerationJob, job_id)

    def get_for(self, job_id: str, *, partner_id: str) -> GenerationJob | None:
        """The job only if it belongs to ``partner_id`` (another partner's job reads as absent)."""
        job = self.get(job_id)
        return job if job is not None and job.partner_id == partner_id else None

    def list_for(self, partner_id: str, *, limit: int = 50, before: datetime | None = None,
                 status: str | None = None) -> list[GenerationJob]:
        with self._session() as session:
            query = select(GenerationJob).where(GenerationJob.partner_id == partner_id)
            if before is not None:
                query = query.where(col(GenerationJob.created_at) < before)
            if status is not None:
                query = query.where(GenerationJob.status == status)
            query = query.order_by(col(GenerationJob.created_at).desc(), col(GenerationJob.id).desc()).limit(limit)
            return list(session.exec(query))

    def with_stored_output(self, consent_ids: list[str]) -> list[GenerationJob]:
        """Released jobs of these consents whose video has not been deleted."""
        if not consent_ids:
            return []
        with self._session() as session:
            return list(session.exec(select(GenerationJob).where(
                col(GenerationJob.consent_id).in_(consent_ids), GenerationJob.status == JobStatus.RELEASED,
                col(GenerationJob.output_deleted_at).is_(None)).order_by(col(GenerationJob.created_at))))

    def consents_with_stored_output(self) -> list[str]:
        """The consents that have at least one released video not deleted."""
        with self._session() as session:
            return list(session.exec(select(GenerationJob.consent_id).where(
                GenerationJob.status == JobStatus.RELEASED,
                col(GenerationJob.output_deleted_at).is_(None)).distinct()))

    def mark_output_deleted(self, job_id: str, *, reason: str) -> datetime | None:
        """Record that the released video of ``job_id`` was deleted; when (``None``: not released, or already)."""
        now = self._clock()
        with self._session() as session:
            result = session.exec(update(GenerationJob).where(
                col(GenerationJob.id) == job_id, col(GenerationJob.status) == JobStatus.RELEASED,
                col(GenerationJob.output_deleted_at).is_(None),
            ).values(output_deleted_at=now, output_deleted_reason=reason[:200], updated_at=now))
            session.commit()
            return now if result.rowcount == 1 else None

    def all_statuses(self) -> dict[str, int]:
        with self._session() as session:
            rows = session.exec(select(GenerationJob.status, func.count()).group_by(GenerationJob.status))
            return {status: count for status, count in rows}

    # ------------------------------------------------------------------ running

    def claim(self, job_id: str, *, worker: str, lease_s: float) -> GenerationJob | None:
        """Take the job if it is queued, or running under an expired lease; ``None`` if someone else has it."""
        now = self._clock()
        claimable = (col(GenerationJob.status) == JobStatus.QUEUED) | (
            (col(GenerationJob.status) == JobStatus.RUNNING) & (col(GenerationJob.lease_until) < now))
        with self._session() as session:
            result = session.exec(update(GenerationJob).where(
                col(GenerationJob.id) == job_id, claimable, col(GenerationJob.attempts) < MAX_ATTEMPTS,
                col(GenerationJob.kind) == JobKind.BATCH,
            ).values(status=JobStatus.RUNNING, attempts=GenerationJob.attempts + 1, worker=worker[:80],
                     lease_until=now + timedelta(seconds=lease_s), started_at=now, updated_at=now))
            session.commit()
            if result.rowcount != 1:
                return None
            return session.get(GenerationJob, job_id, populate_existing=True)

    def _fenced(self, job: GenerationJob, **values: Any) -> bool:
        """Apply ``values`` only while ``job`` is still the running attempt it was claimed as."""
        values.setdefault("updated_at", self._clock())
        with self._session() as session:
            result = session.exec(update(GenerationJob).where(
                col(GenerationJob.id) == job.id, col(GenerationJob.status) == JobStatus.RUNNING,
                col(GenerationJob.attempts) == job.attempts,
            ).values(**values))
            session.commit()
            return bool(result.rowcount == 1)

    def renew(self, job: GenerationJob, *, lease_s: float) -> bool:
        return self._fenced(job, lease_until=self._clock() + timedelta(seconds=lease_s))

    def finish(self, job: GenerationJob, status: JobStatus, **values: Any) -> bool:
        if status not in FINAL:
            raise ValueError(f"{status} is not a final status")
        return self._fenced(job, status=status, finished_at=self._clock(), lease_until=None, **values)

    def give_back(self, job: GenerationJob, *, error: str) -> bool:
        """Return a job to the queue after an unexpected error (or fail it when out of attempts)."""
        if job.attempts >= MAX_ATTEMPTS:
            return self.finish(job, JobStatus.FAILED, error_code="attempts_exhausted", error=error[:500])
        return self._fenced(job, status=JobStatus.QUEUED, lease_until=None, error=error[:500])

    def stale(self, *, queued_for: timedelta) -> tuple[list[str], list[str]]:
        """Jobs to hand to the queue again: queued and never picked up, or running under an expired lease.

        Also fails jobs whose lease expired on their last attempt (the worker died every time), and
        live sessions whose server stopped renewing their lease (``session_lost``: a stream cannot be
        resumed elsewhere). Returns (ids to enqueue, ids failed now).
        """
        now = self._clock()
        with self._session() as session:
            queued = session.exec(select(GenerationJob.id).where(
                GenerationJob.status == JobStatus.QUEUED, col(GenerationJob.updated_at) < now - queued_for)).all()
            expired = session.exec(select(GenerationJob.id, GenerationJob.attempts).where(
                GenerationJob.status == JobStatus.RUNNING, col(GenerationJob.lease_until) < now,
                col(GenerationJob.kind) == JobKind.BATCH)).all()
            lost = list(session.exec(select(GenerationJob.id).where(
                GenerationJob.status == JobStatus.RUNNING, col(GenerationJob.lease_until) < now,
                col(GenerationJob.kind) == JobKind.LIVE)).all())
            if lost:
                session.exec(update(GenerationJob).where(
                    col(GenerationJob.id).in_(lost), col(GenerationJob.status) == JobStatus.RUNNING,
                    col(GenerationJob.lease_until) < now,
                ).values(status=JobStatus.FAILED, error_code="session_lost", finished_at=now, updated_at=now,
                         error="the server holding the live session stopped renewing it"))
                session.exec(update(LiveSessionRow).where(
                    col(LiveSessionRow.id).in_(lost), col(LiveSessionRow.state) != SessionState.CLOSED,
                ).values(state=SessionState.CLOSED, end_reason="session_lost", closed_at=now))
                session.commit()
            dead = [job_id for job_id, attempts in expired if attempts >= MAX_ATTEMPTS]
            if dead:
                session.exec(update(GenerationJob).where(
                    col(GenerationJob.id).in_(dead), col(GenerationJob.status) == JobStatus.RUNNING,
                    col(GenerationJob.lease_until) < now,
                ).values(status=JobStatus.FAILED, error_code="worker_lost", finished_at=now, updated_at=now,
                         error=f"the worker stopped responding on each of {MAX_ATTEMPTS} attempts"))
                session.commit()
        retry = [job_id for job_id, attempts in expired if attempts < MAX_ATTEMPTS]
        return list(queued) + retry, dead + lost


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


__all__ = ["MAX_ATTEMPTS", "JobCreate", "JobStore"]
