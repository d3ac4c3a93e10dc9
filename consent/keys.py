"""The consent registry's keys: an Ed25519 key that signs every revision, and the master key.

>>> from pathlib import Path; import tempfile
>>> from consent.keys import ConsentKeys, init_consent_keys
>>> keys_dir = Path(tempfile.mkdtemp()) / "keys"
>>> paths = init_consent_keys(keys_dir)                # creates what is absent, 0600 from the first byte
>>> sorted(p.name for p in keys_dir.iterdir())
['consent-master.key', 'consent-signing.key']
>>> keys = ConsentKeys.from_files(signing_key_file=paths.signing_key, master_key_file=paths.master_key)
>>> repr(keys).startswith("ConsentKeys(signing_key_id=") and "master" in repr(keys)
True

The key hierarchy: the **master key** (32 random bytes, ``<data dir>/keys/consent-master.key``)
wraps one **data key** per subject (AES-256-GCM), and each data key encrypts that subject's
reference embeddings (AES-256-GCM). Erasure deletes the wrapped data key: every embedding of
the subject becomes undecryptable at once (crypto-shredding), wherever a copy of it lies.
The **signing key** (``consent-signing.key``, PKCS#8 PEM) signs each revision and each
consent's head; ``verify_keys`` can hold retired public keys so old signatures still verify
after a rotation. Key material never appears in a ``repr``, a log line or an error message.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from consent._crypto import KEY_BYTES, key_id
from consent.errors import ConsentKeyError
from likeness.files import read_secret, write_secret
from likeness.keys import load_ed25519_key

SIGNING_KEY_FILE = "consent-signing.key"
MASTER_KEY_FILE = "consent-master.key"


@dataclass(frozen=True)
class ConsentKeyPaths:
    signing_key: Path
    master_key: Path


def _raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True, repr=False)
class ConsentKeys:
    """The signing key (and retired public keys) and the master key of the consent registry."""

    signing_key: Ed25519PrivateKey
    master_key: bytes
    verify_keys: Mapping[str, Ed25519PublicKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.master_key) != KEY_BYTES:
            raise ConsentKeyError(f"the consent master key must be {KEY_BYTES} bytes, not {len(self.master_key)}")
        keys = dict(self.verify_keys)
        keys[self.signing_key_id] = self.signing_key.public_key()
        object.__setattr__(self, "verify_keys", keys)

    def __repr__(self) -> str:  # never print key material
        return f"ConsentKeys(signing_key_id={self.signing_key_id!r}, master_key_id={self.master_key_id!r})"

    @classmethod
    def from_files(
        cls,
        *,
        signing_key_file: Path,
        master_key_file: Path,
        retired_public_keys: Mapping[str, bytes] | None = None,
    ) -> ConsentKeys:
        """Load both keys, refusing files that others can read; ``retired_public_keys``: id → raw 32 bytes."""
        private = load_ed25519_key(signing_key_file, what="consent signing key",
                                   setting="LIKENESS_CONSENT_SIGNING_KEY_FILE", error=ConsentKeyError)
        master = read_secret(master_key_file, what="consent master key", setting="LIKENESS_CONSENT_MASTER_KEY_FILE",
                             error=ConsentKeyError)
        if len(master) != KEY_BYTES:
            raise ConsentKeyError(
                f"consent master key {master_key_file} holds {len(master)} bytes; it must hold {KEY_BYTES}"
            )
        retired = {kid: Ed25519PublicKey.from_public_bytes(raw) for kid, raw in (retired_public_keys or {}).items()}
        return cls(signing_key=private, master_key=master, verify_keys=retired)

    @property
    def signing_key_id(self) -> str:
        return key_id(_raw_public(self.signing_key.public_key()))

    @property
    def master_key_id(self) -> str:
        return key_id(self.master_key)

    @property
    def public_key_raw(self) -> bytes:
        """The signing key's public half (32 bytes), for anyone who verifies revisions elsewhere."""
        return _raw_public(self.signing_key.public_key())

    def sign(self, message: bytes) -> bytes:
        return self.signing_key.sign(message)

    def verifies(self, message: bytes, *, signature: bytes, signed_by: str) -> bool | None:
        """``True``/``False`` for a valid/invalid signature; ``None`` when key ``signed_by`` is unknown here."""
        public = self.verify_keys.get(signed_by)
        if public is None:
            return None
        try:
            public.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def init_consent_keys(keys_dir: Path) -> ConsentKeyPaths:
    """Create the consent signing key and master key under ``keys_dir`` where absent (never replaced)."""
    paths = ConsentKeyPaths(signing_key=keys_dir / SIGNING_KEY_FILE, master_key=keys_dir / MASTER_KEY_FILE)
    if not paths.signing_key.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        write_secret(paths.signing_key, pem)
    if not paths.master_key.exists():
        write_secret(paths.master_key, secrets.token_bytes(KEY_BYTES))
    return paths
