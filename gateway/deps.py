"""Wiring from settings to the objects the packages need (engine, repository, identity).

The CLI and (later) the HTTP app build these once at start-up and hand them down.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from consent import ConsentKeys
from gateway.db import make_engine, upgrade
from gateway.settings import Settings
from provenance import KeyMaterialError, ManifestRepository, ProvenanceIdentity, load_identity, load_watermark_key


def open_engine(settings: Settings, *, migrate: bool = True) -> Engine:
    engine = make_engine(settings.resolved_database_url)
    if migrate:
        upgrade(engine)
    return engine


def open_repository(settings: Settings) -> ManifestRepository:
    return ManifestRepository(open_engine(settings))


def existing_repository(settings: Settings) -> tuple[ManifestRepository | None, str | None]:
    """The repository if a database already exists (``detect`` never creates one)."""
    url = settings.resolved_database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None, f"no database at {url.removeprefix('sqlite:///')}"
    return ManifestRepository(make_engine(url)), None


def provenance_identity(settings: Settings) -> ProvenanceIdentity:
    return load_identity(
        keys_dir=settings.keys_dir,
        signing_key_file=settings.signing_key_file,
        signing_chain_file=settings.signing_chain_file,
        trust_anchors_file=settings.trust_anchors_file,
        watermark_key_file=settings.watermark_key_file,
        tsa_url=settings.tsa_url,
        production=settings.environment == "production",
    )


def consent_keys(settings: Settings) -> ConsentKeys:
    """The consent registry's signing key and master key (``likeness keys init`` makes development ones)."""
    return ConsentKeys.from_files(
        signing_key_file=settings.resolved_consent_signing_key_file,
        master_key_file=settings.resolved_consent_master_key_file,
    )


def verifier_material(settings: Settings) -> tuple[bytes | None, bytes | None, list[str]]:
    """Trust anchors and watermark key for ``detect``; what is missing is reported, not fatal."""
    notes: list[str] = []
    anchors_file = settings.resolved_trust_anchors_file
    anchors = anchors_file.read_bytes() if anchors_file.exists() else None
    if anchors is None:
        notes.append(f"no trust anchors at {anchors_file}")
    try:
        key: bytes | None = load_watermark_key(settings.resolved_watermark_key_file)
    except KeyMaterialError as exc:
        key = None
        notes.append(str(exc))
    return anchors, key, notes
