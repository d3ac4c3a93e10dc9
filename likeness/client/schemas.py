"""What the API answers, as the client hands it back: jobs, consent checks, the partner, live session tickets.

>>> g = Generation.model_validate({"id": "gen_0123456789abcdef", "status": "released", "consent_id": "cns_" + "0" * 32,
...     "consent_revision": 1, "purpose": "education", "controls": {}, "attempts": 1,
...     "decision": {"allowed": True, "reasons": ["generate-with-consent"], "policy_version": "p1"},
...     "created_at": "2026-12-08T10:00:00Z", "updated_at": "2026-12-08T10:00:09Z", "a_field_added_later": 1})
>>> g.status, g.is_final, g.decision.reasons
('released', True, ['generate-with-consent'])

The shapes are the server's (gateway/api.py, docs/sessions.md), read leniently: a field the server
adds later is ignored, so an older client keeps working. Models are frozen.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

FINAL_STATUSES = frozenset({"released", "cancelled", "failed"})


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Decision(_Model):
    """The gate's decision: allowed or not, the ids of the policies that decided, the policy version."""

    allowed: bool
    reasons: list[str] = []
    policy_version: str | None = None


class Generation(_Model):
    """A generation job as its partner sees it (``GET /v1/generations/{id}``)."""

    id: str
    status: str
    consent_id: str
    consent_revision: int | None = None
    purpose: str
    controls: dict[str, Any] = {}
    decision: Decision | None = None
    attempts: int = 0
    error_code: str | None = None
    error: str | None = None
    watermark_id: str | None = None
    manifest_id: str | None = None
    output_sha256: str | None = None
    output_bytes: int | None = None
    duration_s: float | None = None
    video_url: str | None = None
    output_deleted_at: datetime | None = None
    output_deleted_reason: str | None = None
    created_at: datetime
    updated_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def is_final(self) -> bool:
        """Whether the job has ended (released, cancelled or failed)."""
        return self.status in FINAL_STATUSES


class GenerationPage(_Model):
    """A page of the partner's jobs, newest first; pass ``next_before`` as ``before=`` for the next one."""

    items: list[Generation]
    next_before: datetime | None = None


class ReasonOut(_Model):
    id: str
    text: str


class ConsentCheck(_Model):
    """Whether a consent covers the partner for a purpose now (``POST /v1/consents/{id}/check``)."""

    consent_id: str
    revision: int
    status: str
    covered: bool
    reasons: list[ReasonOut] = []
    policy_version: str | None = None


class Partner(_Model):
    """The calling partner: use cases, quota and rate (``GET /v1/me``)."""

    id: str
    name: str
    use_cases: list[str]
    status: str
    quota: int
    quota_period_days: int
    quota_used: int
    rate_per_minute: int
    key_prefix: str
    scopes: list[str]


class SessionTicket(_Model):
    """An opened live session (``POST /v1/sessions``): hand ``token`` to whoever streams, once.

    The token opens this session's stream only, once, before ``token_expires_at``; its ``repr``
    leaves it out so that it does not end up in logs.
    """

    id: str
    status: str = "open"
    token: str
    token_expires_at: datetime | None = None
    stream_url: str
    consent_id: str | None = None
    purpose: str | None = None
    decision: Decision | None = None
    max_seconds: float | None = None
    idle_timeout_s: float | None = None
    segment_seconds: float | None = None
    fps: float | None = None
    sample_rate: int = 16000
    created_at: datetime | None = None

    def __repr_args__(self) -> Any:
        return [(k, "<hidden>" if k == "token" else v) for k, v in super().__repr_args__()]


class SessionState(_Model):
    """A live session as it stands (``GET /v1/sessions/{id}``); the generation's fields once it is released."""

    id: str
    status: str
    consent_id: str | None = None
    purpose: str | None = None
    started_at: datetime | None = None
    closed_at: datetime | None = None
    end_reason: str | None = None
    segments: int | None = None
    frames: int | None = None
    audio_seconds: float | None = None
    chain_head: str | None = None
    generation_status: str | None = None
    video_url: str | None = None


__all__ = [
    "FINAL_STATUSES",
    "ConsentCheck",
    "Decision",
    "Generation",
    "GenerationPage",
    "Partner",
    "ReasonOut",
    "SessionState",
    "SessionTicket",
]
