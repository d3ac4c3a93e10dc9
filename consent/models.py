"""Tables of the consent registry.

::

    consent_subjects ─┬─ consent_data_keys            one wrapped data key per subject; erasure deletes it
                      ├─ consent_reference_embeddings  AES-GCM ciphertext under the data key + metadata
                      └─ consents ─┬─ consent_revisions    append-only, signed, hash-chained
                                   ├─ consent_evidence     hashes and scores of the consent statement
                                   └─ consent_generations  where the subject's likeness was used

Only ``consents`` (its head moves on with each revision), ``consent_subjects.erased_at`` and
the embeddings' ciphertext (wiped on erasure) are ever updated. Revisions, evidence and
generations are append-only: the migration installs triggers that refuse UPDATE and DELETE on
both SQLite and PostgreSQL, and every revision and head is signed, so a change made around the
triggers is still detected. No column holds a plaintext embedding, a token or a key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(UTC)


class Subject(SQLModel, table=True):
    """A person who gave consent, known only by a random pseudonymous id."""

    __tablename__ = "consent_subjects"

    id: str = Field(primary_key=True, max_length=36, description="sub_ + 32 hex digits, random")
    created_at: datetime = Field(default_factory=_now)
    erased_at: datetime | None = Field(default=None, description="set when the subject erased their data")


class SubjectDataKey(SQLModel, table=True):
    """The subject's data key, wrapped (AES-256-GCM) by the platform master key. Deleted on erasure."""

    __tablename__ = "consent_data_keys"

    subject_id: str = Field(primary_key=True, foreign_key="consent_subjects.id", max_length=36)
    wrapped_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False), repr=False)
    master_key_id: str = Field(max_length=16, description="which master key wrapped it")
    created_at: datetime = Field(default_factory=_now)


class Consent(SQLModel, table=True):
    """A consent: its subject, its current revision and the signed head of its revision chain."""

    __tablename__ = "consents"

    id: str = Field(primary_key=True, max_length=36, description="cns_ + 32 hex digits, random")
    subject_id: str = Field(foreign_key="consent_subjects.id", index=True, max_length=36)
    current_revision: int
    head_hash: str = Field(max_length=64, description="SHA-256 of the current revision's signed content")
    token_prefix: str = Field(index=True, max_length=16, description="names the management token")
    token_hash: str = Field(max_length=64, repr=False, description="SHA-256 of the management token")
    created_at: datetime = Field(default_factory=_now)
    signing_key_id: str = Field(max_length=16)
    head_signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False), repr=False)


class ConsentRevision(SQLModel, table=True):
    """One state of a consent: granted, revoked or erased, with the full scope. Append-only."""

    __tablename__ = "consent_revisions"

    consent_id: str = Field(primary_key=True, foreign_key="consents.id", max_length=36)
    revision: int = Field(primary_key=True, description="1, 2, … without gaps")
    kind: str = Field(max_length=16, description="granted, revoked or erased")
    subject_id: str = Field(max_length=36)
    partners: Any = Field(sa_column=Column(JSON, nullable=False), description='a list, or "any_vetted"')
    purposes: Any = Field(sa_column=Column(JSON, nullable=False), description='a list, or "any"')
    prohibited_purposes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    languages: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    territories: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    valid_from: datetime
    valid_until: datetime | None = None
    created_at: datetime = Field(default_factory=_now)
    reason: str = Field(max_length=500)
    evidence_hashes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    prev_hash: str | None = Field(default=None, max_length=64, description="the previous revision's content hash")
    content_hash: str = Field(max_length=64, description="SHA-256 of the canonical content signed")
    signing_key_id: str = Field(max_length=16)
    signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False), repr=False)


class ReferenceEmbedding(SQLModel, table=True):
    """One reference face embedding, encrypted under the subject's data key. Ciphertext wiped on erasure."""

    __tablename__ = "consent_reference_embeddings"

    id: str = Field(primary_key=True, max_length=36, description="ref_ + 32 hex digits, bound into the ciphertext")
    subject_id: str = Field(foreign_key="consent_subjects.id", index=True, max_length=36)
    model_version: str = Field(max_length=200)
    dim: int
    ciphertext: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True), repr=False)
    created_at: datetime = Field(default_factory=_now)


class ConsentEvidence(SQLModel, table=True):
    """What supported a revision: hashes of the statement media and challenge, scores, model versions."""

    __tablename__ = "consent_evidence"

    id: int | None = Field(default=None, primary_key=True)
    consent_id: str = Field(foreign_key="consents.id", index=True, max_length=36)
    revision: int
    kind: str = Field(max_length=40, description="e.g. statement, reference_photo")
    media_sha256: str = Field(max_length=64)
    challenge_sha256: str | None = Field(default=None, max_length=64)
    scores: dict[str, float] = Field(sa_column=Column(JSON, nullable=False))
    model_versions: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=_now)
    content_hash: str = Field(max_length=64, description="listed in the revision it supports, so signed with it")


class ConsentGeneration(SQLModel, table=True):
    """One generation of the subject's likeness: when, for whom, for what, and its watermark. Append-only."""

    __tablename__ = "consent_generations"
    __table_args__ = (UniqueConstraint("generation_id", name="uq_consent_generations_generation_id"),)

    id: int | None = Field(default=None, primary_key=True)
    consent_id: str = Field(foreign_key="consents.id", index=True, max_length=36)
    generation_id: str = Field(max_length=32)
    watermark_id: str | None = Field(default=None, max_length=16)
    partner: str = Field(max_length=100)
    purpose: str = Field(max_length=64)
    kind: str = Field(default="video", max_length=8, description="video (a job), or live (a live session)")
    created_at: datetime = Field(default_factory=_now)


class ConsentOutputDeletion(SQLModel, table=True):
    """A released video of the subject deleted from storage, and why (revocation, erasure). Append-only."""

    __tablename__ = "consent_output_deletions"
    __table_args__ = (UniqueConstraint("generation_id", name="uq_consent_output_deletions_generation_id"),)

    id: int | None = Field(default=None, primary_key=True)
    consent_id: str = Field(foreign_key="consents.id", index=True, max_length=36)
    generation_id: str = Field(max_length=32)
    reason: str = Field(max_length=200)
    deleted_at: datetime = Field(default_factory=_now)


# ---------------------------------------------------------------------------------------- the portal
# Server-side state of the consent portal (``consent.portal``), short-lived and never signed: a
# registration in progress (a draft) and a signed-in management session. Both are found by the
# SHA-256 of a random secret held only in the person's cookie, and what they hold of value (the
# reference embeddings, the management token) is sealed under a key derived from that secret, so
# the database alone opens neither. Expired rows are purged; a finished draft is deleted.


class PortalDraft(SQLModel, table=True):
    """A registration in progress: scope, challenge, sealed reference embeddings, statement verdict."""

    __tablename__ = "consent_portal_drafts"

    id: str = Field(primary_key=True, max_length=36, description="drf_ + 32 hex digits, random")
    secret_hash: str = Field(max_length=64, repr=False, description="SHA-256 of the cookie's secret")
    created_at: datetime = Field(default_factory=_now)
    expires_at: datetime = Field(index=True)
    references: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True), repr=False,
                                     description="AES-256-GCM under the draft key: the reference embeddings")
    reference_count: int = 0
    reference_evidence: list[dict[str, Any]] | None = Field(
        default=None, sa_column=Column(JSON(none_as_null=True), nullable=True),
        description="per photo: sha256, face width, identity model (no pixels)")
    scope: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    scope_summary: str | None = Field(default=None, max_length=200)
    challenge: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    statement: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True),
                                             description="the passed verdict: checks, evidence (hashes, scores)")


class PortalSession(SQLModel, table=True):
    """A signed-in management session: the consent id and its management token, sealed under the session key."""

    __tablename__ = "consent_portal_sessions"

    id: str = Field(primary_key=True, max_length=36, description="mgs_ + 32 hex digits, random")
    secret_hash: str = Field(max_length=64, repr=False, description="SHA-256 of the cookie's secret")
    consent_id: str = Field(max_length=36)
    sealed_token: bytes = Field(sa_column=Column(LargeBinary, nullable=False), repr=False)
    created_at: datetime = Field(default_factory=_now)
    expires_at: datetime = Field(index=True)


class PortalWorkSpent(SQLModel, table=True):
    """A start challenge whose proof-of-work was accepted (consent/portal/_pow.py): kept until it expires, so a
    solution starts one registration only."""

    __tablename__ = "consent_portal_pow"

    nonce: str = Field(primary_key=True, max_length=32, description="the challenge's random nonce (hex)")
    expires_at: datetime = Field(index=True)
