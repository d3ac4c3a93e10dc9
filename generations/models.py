"""Tables of the generation pipeline: jobs, the source of truth for every job's state.

::

    generation_jobs   one accepted request: who, which consent and revision, the inputs' hashes, the
                      policy decision, status, attempts and lease, and what was released (migration 0005);
                      ``kind`` ``live`` for a live session's generation (migration 0010)
    live_sessions     a live session's stream: the token's hash and expiry, limits, its state, and at
                      close the segments, frames, audio and the segments' hash chain (migration 0010)

>>> from generations.models import FINAL, JobStatus
>>> JobStatus.RELEASED in FINAL, JobStatus.RUNNING in FINAL
(True, False)
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RELEASED = "released"
    CANCELLED = "cancelled"
    FAILED = "failed"


FINAL = frozenset({JobStatus.RELEASED, JobStatus.CANCELLED, JobStatus.FAILED})


COUNTS_TOWARDS_QUOTA = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.RELEASED)


class JobKind(StrEnum):
    BATCH = "batch"  # queued, run by a worker from stored inputs
    LIVE = "live"  # a live session: rendered in the server that holds its stream, never queued


class SessionState(StrEnum):
    OPEN = "open"  # the token is issued; the stream has not connected
    STREAMING = "streaming"  # the stream is connected (the token is spent)
    CLOSED = "closed"


def _now() -> datetime:
    return datetime.now(UTC)


class GenerationJob(SQLModel, table=True):
    """One accepted generation request. Refused requests leave no job: their decision is in the audit log."""

    __tablename__ = "generation_jobs"
    __table_args__ = (
        UniqueConstraint("partner_id", "idempotency_key", name="uq_generation_jobs_idempotency"),
        Index("ix_generation_jobs_partner_created", "partner_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=20, description="gen_ + 16 hex digits = the watermark id")
    kind: str = Field(default=JobKind.BATCH, max_length=8, description="batch, or live (a live session)")
    partner_id: str = Field(max_length=40)
    partner_name: str = Field(max_length=100, description="what consents name the partner by")
    api_key_id: str = Field(max_length=40)
    idempotency_key: str | None = Field(default=None, max_length=200)
    request_sha256: str = Field(max_length=64, description="what an idempotent retry must repeat")
    consent_id: str = Field(max_length=40, index=True)
    consent_revision: int
    purpose: str = Field(max_length=64)
    controls: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    transcript: str | None = Field(default=None, max_length=2000)
    portrait_sha256: str = Field(max_length=64)
    portrait_mime: str = Field(default="image/jpeg", max_length=40)
    audio_sha256: str = Field(max_length=64)
    audio_mime: str = Field(default="audio/wav", max_length=40)
    policy_version: str = Field(max_length=64)
    decision: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=JobStatus.QUEUED, max_length=16, index=True)
    attempts: int = 0
    worker: str | None = Field(default=None, max_length=80)
    lease_until: datetime | None = None
    error_code: str | None = Field(default=None, max_length=64)
    error: str | None = Field(default=None, max_length=500)
    watermark_id: str | None = Field(default=None, max_length=16)
    manifest_id: str | None = Field(default=None, max_length=200)
    output_sha256: str | None = Field(default=None, max_length=64)
    output_bytes: int | None = None
    duration_s: float | None = None
    output_deleted_at: datetime | None = Field(default=None, description="when the released video was deleted")
    output_deleted_reason: str | None = Field(default=None, max_length=200, description="why (consent revoked, …)")
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class LiveSessionRow(SQLModel, table=True):
    """A live session's stream; its generation is the ``generation_jobs`` row with the same id."""

    __tablename__ = "live_sessions"

    id: str = Field(primary_key=True, max_length=20, description="the generation id")
    partner_id: str = Field(max_length=40, index=True)
    token_sha256: str = Field(max_length=64, unique=True, description="SHA-256 of the session token (never the token)")
    token_expires_at: datetime
    state: str = Field(default=SessionState.OPEN, max_length=16, index=True)
    max_seconds: float
    segment_seconds: float
    server: str | None = Field(default=None, max_length=80, description="the process that holds the stream")
    created_at: datetime = Field(default_factory=_now)
    started_at: datetime | None = None
    closed_at: datetime | None = None
    end_reason: str | None = Field(default=None, max_length=40)
    segments: int = 0
    frames: int = 0
    audio_seconds: float = 0.0
    chain_head: str | None = Field(default=None, max_length=64)


__all__ = ["COUNTS_TOWARDS_QUOTA", "FINAL", "GenerationJob", "JobKind", "JobStatus", "LiveSessionRow", "SessionState"]
