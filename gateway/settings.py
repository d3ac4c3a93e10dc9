"""The one settings object: environment variables with the prefix ``LIKENESS_``.

Read once at start-up by :func:`get_settings` and passed down; no package below the gateway
reads the environment itself.

>>> from gateway.settings import Settings
>>> s = Settings(data_dir="/tmp/likeness-doc")
>>> str(s.keys_dir)
'/tmp/likeness-doc/keys'
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.errors import SettingsError


class Settings(BaseSettings):
    """Everything an operator can set. Paths default to locations under ``data_dir``."""

    model_config = SettingsConfigDict(env_prefix="LIKENESS_", extra="ignore", frozen=True)

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Field(default=Path("var"), description="State directory (LIKENESS_DATA_DIR).")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file <data_dir>/likeness.db (WAL)."
    )

    # Signing identity (C2PA). Defaults: the development PKI made by `likeness keys init`.
    signing_key_file: Path | None = None
    signing_chain_file: Path | None = None
    trust_anchors_file: Path | None = Field(
        default=None, description="PEM root(s) that `detect` and the release self-check trust."
    )
    tsa_url: str | None = Field(default=None, description="RFC 3161 time-stamp authority URL.")

    # Watermark.
    watermark_key_file: Path | None = None
    watermark_strength: float | None = Field(
        default=None,
        description="QIM step of the frame watermark, one of provenance.watermark.STEPS (72, 96, 128); "
        "default 96. Higher: more robust, lower PSNR (docs/benchmarks.md).",
    )

    # Consent registry: the Ed25519 key that signs every revision, and the master key that wraps each
    # subject's data key (erasing a subject deletes their wrapped key). Both 0600; `likeness keys init`.
    consent_signing_key_file: Path | None = None
    consent_master_key_file: Path | None = None

    # Policy: the Cedar policy files and schema (default: the set shipped in policy/policies).
    policy_dir: Path | None = Field(default=None, description="Folder of *.cedar files and schema.cedarschema.")

    # Audit log: the Ed25519 key that signs every tree head (0600; `likeness keys init`).
    audit_signing_key_file: Path | None = None

    # Jobs: SqliteHuey under the data dir by default (a consumer thread inside `likeness serve`);
    # RedisHuey when set, with `likeness worker` processes.
    redis_url: str | None = Field(default=None, description="redis://host:port/db of the job queue.")
    run_jobs: bool | None = Field(default=None, description="Run jobs inside the server process(es); default: "
                                  "yes unless LIKENESS_REDIS_URL is set (`likeness serve --jobs/--no-jobs`).")
    job_lease_s: float = Field(default=120.0, ge=1.0, description="A running job's lease; renewed while it renders.")
    recover_every_s: float = Field(default=15.0, ge=0.2, description="How often workers look for lost jobs.")

    # Live sessions (docs/sessions.md): rendered in the server process that holds the stream.
    live_max_sessions: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1), ge=0,
                                   description="Live sessions streaming at once per server process (0: none); "
                                   "more are refused with 503 live_capacity. Default: one per CPU core.")
    live_max_seconds: float = Field(default=600.0, gt=0, le=3600, description="Longest live session, seconds of audio.")
    live_segment_seconds: float = Field(default=0.5, ge=0.2, le=2.0, description="Default segment length, seconds.")
    live_token_ttl_s: float = Field(default=120.0, ge=5, le=3600, description="How long a session token may wait "
                                    "before its stream connects.")
    live_idle_timeout_s: float = Field(default=30.0, ge=1, description="A stream without any message this long ends.")
    live_max_ahead_s: float = Field(default=2.0, ge=0.2, le=30, description="How far ahead of real time a client's "
                                    "speech is read; beyond it the server stops reading (TCP backpressure).")

    # Uploads (partner API and consent portal): refused before they are read in full.
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1024, description="Largest accepted upload, bytes.")
    max_media_seconds: float = Field(default=60.0, gt=0, description="Longest accepted audio or video, seconds.")

    # The consent portal's public edge (gateway/edge.py, docs/consent.md): per client address and per server
    # process, the expensive routes (starting a registration, photos, statement) take this many requests a
    # minute, and this many run at once; a start needs a proof-of-work of portal_pow_bits leading zero bits.
    portal_rate_per_minute: int = Field(default=20, ge=1, description="Expensive portal requests a client address "
                                        "may make a minute (per server process); more get 429 + Retry-After.")
    portal_max_concurrent: int = Field(default=4, ge=1, description="Expensive portal requests handled at once "
                                       "(per server process); more get 429 + Retry-After.")
    portal_pow_bits: int = Field(default=16, ge=0, le=32, description="Difficulty of the start form's "
                                 "proof-of-work: leading zero bits of a SHA-256 (each bit doubles the work).")
    portal_pow_ttl_s: float = Field(default=1800.0, ge=10.0, description="How long a start challenge stays valid.")
    trusted_proxies: str = Field(default="", description="Comma-separated addresses or CIDR networks of reverse "
                                 "proxies whose X-Forwarded-For is believed; default none: the direct peer counts.")

    # /admin page sessions (gateway/admin.py): ended after this long without a request, and in any case
    # this long after signing in; admin tokens issued without --expires-in last admin_token_days.
    admin_session_idle_minutes: float = Field(default=30.0, gt=0, description="Idle timeout of an admin session.")
    admin_session_lifetime_hours: float = Field(default=8.0, gt=0, description="Absolute lifetime of an admin "
                                                "session.")
    admin_token_days: int = Field(default=90, ge=1, le=366, description="Default lifetime of a new admin token.")

    # Release encoding (H.264 + AAC).
    video_crf: int = Field(default=20, ge=0, le=51)
    video_preset: str = "veryfast"

    # Generator: the backend of every clip this deployment makes (demo, worker); its name is in each clip's
    # C2PA claim (`likeness-generator-<name>`). "learned" loads the shipped motion model (torch) at start-up.
    generator_backend: Literal["default", "learned"] = Field(
        default="default", description="default (rule-based motion, CPU, no weights) or learned (motion from the "
        "trained model; docs/learned_generator.md). Must be one of generator.available_backends().",
    )

    # Identity embeddings (faces): never swapped silently for another backend (docs/identity.md).
    identity_backend: Literal["dlib", "insightface"] = Field(
        default="dlib", description="dlib (offline, from packages) or insightface (the operator's ONNX model)."
    )
    insightface_model_dir: Path | None = Field(
        default=None, description="Folder with the operator's licensed ArcFace-style ONNX model (insightface backend)."
    )
    insightface_providers: str = Field(
        default="CPUExecutionProvider",
        description="onnxruntime execution providers for the insightface backend, comma-separated, preferred "
        "first (e.g. CUDAExecutionProvider,CPUExecutionProvider); the first must be the one that runs.",
    )

    @field_validator("watermark_strength")
    @classmethod
    def _known_strength(cls, value: float | None) -> float | None:
        from provenance.watermark import STEPS

        if value is not None and value not in STEPS:
            raise ValueError(f"must be one of {', '.join(f'{s:g}' for s in STEPS)} (readers try exactly these)")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        import ipaddress

        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)  # ValueError names the bad entry
        return value

    @property
    def identity_providers(self) -> list[str]:
        """``insightface_providers`` as a list."""
        return [p.strip() for p in self.insightface_providers.split(",") if p.strip()]

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def outputs_dir(self) -> Path:
        return self.data_dir / "outputs"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'likeness.db').resolve()}"

    @property
    def resolved_signing_key_file(self) -> Path:
        return self.signing_key_file or self.keys_dir / "signing.key"

    @property
    def resolved_signing_chain_file(self) -> Path:
        return self.signing_chain_file or self.keys_dir / "chain.pem"

    @property
    def resolved_trust_anchors_file(self) -> Path:
        return self.trust_anchors_file or self.keys_dir / "root.pem"

    @property
    def resolved_watermark_key_file(self) -> Path:
        return self.watermark_key_file or self.keys_dir / "watermark.key"

    @property
    def resolved_consent_signing_key_file(self) -> Path:
        return self.consent_signing_key_file or self.keys_dir / "consent-signing.key"

    @property
    def resolved_audit_signing_key_file(self) -> Path:
        return self.audit_signing_key_file or self.keys_dir / "audit-signing.key"

    @property
    def jobs_db_path(self) -> Path:
        return self.data_dir / "jobs.db"

    @property
    def blobs_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def resolved_consent_master_key_file(self) -> Path:
        return self.consent_master_key_file or self.keys_dir / "consent-master.key"

    @classmethod
    def for_tests(cls, data_dir: Path, **overrides: Any) -> Settings:
        """Settings that ignore the process environment (tests build their own)."""
        return cls.model_construct(data_dir=Path(data_dir), **overrides)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"LIKENESS_{'_'.join(str(part) for part in error['loc']).upper()}: "
            f"{error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None
