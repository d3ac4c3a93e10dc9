"""The platform's provenance identity: the C2PA signer, the trust anchors and the watermark key.

``likeness keys init`` creates a development identity under ``<data dir>/keys``; production
points the settings at its own certificate chain (and a KMS through a callback signer).

>>> from pathlib import Path; import tempfile
>>> from provenance.identity import init_identity, load_identity
>>> keys = Path(tempfile.mkdtemp()) / "keys"
>>> _ = init_identity(keys)
>>> load_identity(keys_dir=keys).trust_anchors_pem.startswith(b"-----BEGIN CERTIFICATE-----")
True
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from likeness.files import read_secret, write_secret
from provenance.errors import KeyMaterialError
from provenance.pki import PkiPaths, init_dev_pki, is_development_certificate
from provenance.signing import ClaimSigner, FileKeySigner

WATERMARK_KEY_BYTES = 32


@dataclass(frozen=True)
class ProvenanceIdentity:
    """What the release path signs and marks with, and what verification trusts."""

    signer: ClaimSigner
    trust_anchors_pem: bytes
    watermark_key: bytes = b""

    def __repr__(self) -> str:  # never print the key
        signer = type(self.signer).__name__
        return f"ProvenanceIdentity(signer={signer}, watermark_key=<{len(self.watermark_key)} bytes>)"

    @property
    def signer_fingerprint(self) -> str:
        """SHA-256 of the end-entity certificate (DER), hex."""
        leaf = x509.load_pem_x509_certificates(self.signer.certificate_chain_pem)[0]
        return leaf.fingerprint(hashes.SHA256()).hex()

    @property
    def is_development(self) -> bool:
        leaf = x509.load_pem_x509_certificates(self.signer.certificate_chain_pem)[0]
        return is_development_certificate(leaf)


def init_identity(keys_dir: Path) -> PkiPaths:
    """Create the development PKI and the watermark key under ``keys_dir`` where absent."""
    paths = init_dev_pki(keys_dir)
    key_file = keys_dir / "watermark.key"
    if not key_file.exists():
        write_secret(key_file, secrets.token_bytes(WATERMARK_KEY_BYTES))
    return paths


def load_watermark_key(path: Path) -> bytes:
    """Read the watermark key, refusing a file that others can read."""
    key = read_secret(path, what="watermark key", setting="LIKENESS_WATERMARK_KEY_FILE", error=KeyMaterialError)
    if len(key) < 16:
        raise KeyMaterialError(f"watermark key {path} is too short ({len(key)} bytes; need at least 16)")
    return key


def load_identity(
    *,
    keys_dir: Path | None = None,
    signing_key_file: Path | None = None,
    signing_chain_file: Path | None = None,
    trust_anchors_file: Path | None = None,
    watermark_key_file: Path | None = None,
    tsa_url: str | None = None,
    production: bool = False,
) -> ProvenanceIdentity:
    """Load the file-based identity. Explicit paths win over ``keys_dir`` defaults.

    In production, development certificates and a missing time-stamp authority are refused:
    without an RFC 3161 time-stamp every output turns Invalid once the signing certificate expires.
    """
    base = keys_dir or Path("var/keys")
    key_file = signing_key_file or base / "signing.key"
    chain_file = signing_chain_file or base / "chain.pem"
    anchors_file = trust_anchors_file or base / "root.pem"
    wm_file = watermark_key_file or base / "watermark.key"
    for needed in (key_file, chain_file, anchors_file):
        if not needed.exists():
            raise KeyMaterialError(
                f"signing identity incomplete: {needed} is missing; run `likeness keys init`"
            )
    signer = FileKeySigner.from_files(key_file, chain_path=chain_file, tsa_url=tsa_url)
    identity = ProvenanceIdentity(
        signer=signer,
        trust_anchors_pem=anchors_file.read_bytes(),
        watermark_key=load_watermark_key(wm_file),
    )
    if production:
        if identity.is_development:
            raise KeyMaterialError(
                "production refuses the development signing certificate: point LIKENESS_SIGNING_KEY_FILE "
                "and LIKENESS_SIGNING_CHAIN_FILE at the operator's certificate chain"
            )
        if not tsa_url:
            raise KeyMaterialError("production needs an RFC 3161 time-stamp authority: set LIKENESS_TSA_URL")
    return identity


def key_id(key: bytes) -> str:
    """A non-secret identifier of a key (first 16 hex of SHA-256), safe to log."""
    return hashlib.sha256(b"likeness-key-id" + key).hexdigest()[:16]
