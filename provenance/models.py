"""Tables of the provenance package: the manifest repository.

Every released video leaves a row here, keyed by its watermark id, so that the C2PA manifest
of a file whose manifest was stripped (a remux, a re-encode) can be recovered from the
watermark alone. No biometric data is stored: hashes, ids and the signed manifest store.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(UTC)


class ManifestRecord(SQLModel, table=True):
    """One released video: its ids, hashes and the signed C2PA manifest store (JUMBF bytes)."""

    __tablename__ = "provenance_manifests"

    watermark_id: str = Field(primary_key=True, max_length=16, description="16 hex digits")
    generation_id: str = Field(index=True, unique=True, max_length=32)
    manifest_id: str = Field(max_length=200, description="the active manifest label (urn:c2pa:…)")
    manifest_store: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    output_sha256: str = Field(index=True, max_length=64)
    output_bytes: int
    frames: int
    duration_s: float
    watermark_alg: str = Field(max_length=100)
    signer_fingerprint: str = Field(max_length=64, description="SHA-256 of the signing certificate")
    policy_version: str = Field(max_length=100)
    consent_ref_sha256: str = Field(max_length=64)
    consent_self_attested: bool
    created_at: datetime = Field(default_factory=_now)
