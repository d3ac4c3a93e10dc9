"""The audit log's Ed25519 key: it signs every tree head; its public half is all a reviewer needs.

>>> import tempfile; from pathlib import Path
>>> from audit.keys import AuditKey, init_audit_key, public_key_from_text
>>> path = init_audit_key(Path(tempfile.mkdtemp()) / "keys" / "audit-signing.key")  # 0600, only if absent
>>> key = AuditKey.from_file(path)
>>> repr(key) == f"AuditKey(key_id={key.key_id!r})"               # never the key material
True
>>> public_key_from_text(key.public_key_text()) == key.public_key_raw
True

The private key is PKCS#8 PEM in ``<data dir>/keys/audit-signing.key`` (``LIKENESS_AUDIT_SIGNING_KEY_FILE``),
created by ``likeness keys init``. A file that the group or others can read is refused. The key
id is the first 16 hex digits of SHA-256("likeness-key-id" ‖ raw public key), as for the other
keys of Likeness. The public key travels as text: ``ed25519:<key id>:<base64 of the 32 raw bytes>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit.errors import AuditInputError, AuditKeyError
from likeness.files import write_secret
from likeness.keys import load_ed25519_key

KEY_SETTING = "LIKENESS_AUDIT_SIGNING_KEY_FILE"


def key_id(public_raw: bytes) -> str:
    """A non-secret identifier of a public key (16 hex digits), safe to store and log."""
    return hashlib.sha256(b"likeness-key-id" + public_raw).hexdigest()[:16]


def public_key_text(public_raw: bytes) -> str:
    """``ed25519:<key id>:<base64>``: the public key as a reviewer receives it."""
    return f"ed25519:{key_id(public_raw)}:{base64.b64encode(public_raw).decode()}"


def public_key_from_text(text: str) -> bytes:
    """The 32 raw bytes of a public key written by :func:`public_key_text` (or bare base64 / hex)."""
    text = text.strip()
    claimed = None
    if text.startswith("ed25519:"):
        parts = text.split(":")
        if len(parts) != 3:
            raise AuditInputError("a public key reads ed25519:<key id>:<base64>")
        _, claimed, text = parts
    raw = None
    if len(text) == 64:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = None
    if raw is None:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise AuditInputError("the public key is neither base64 nor hex") from None
    if len(raw) != 32:
        raise AuditInputError(f"an Ed25519 public key is 32 bytes, not {len(raw)}")
    if claimed is not None and claimed != key_id(raw):
        raise AuditInputError(f"the public key's id says {claimed} but the key's id is {key_id(raw)}")
    return raw


def verifies(public_raw: bytes, *, message: bytes, signature: bytes) -> bool:
    """Does ``signature`` verify over ``message`` under the Ed25519 public key ``public_raw``?"""
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


class AuditKey:
    """The private signing key of the audit log (its material never appears in a repr or an error)."""

    __slots__ = ("_private", "key_id", "public_key_raw")

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public_key_raw = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                                serialization.PublicFormat.Raw)
        self.key_id = key_id(self.public_key_raw)

    def __repr__(self) -> str:
        return f"AuditKey(key_id={self.key_id!r})"

    @classmethod
    def generate(cls) -> AuditKey:
        """A fresh key held in memory only (tests, examples)."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_file(cls, path: Path) -> AuditKey:
        """Load the PEM key at ``path``, refusing one that is missing, exposed or not Ed25519."""
        private = load_ed25519_key(path, what="audit signing key", setting=KEY_SETTING, error=AuditKeyError)
        return cls(private)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def public_key_text(self) -> str:
        return public_key_text(self.public_key_raw)


def init_audit_key(path: Path) -> Path:
    """Create an Ed25519 audit signing key at ``path`` (0600, folder 0700) if none is there; never replaces one."""
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        write_secret(path, pem)
    return path
