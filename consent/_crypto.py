"""Cryptographic primitives of the consent registry (private): secrets on disk, AEAD, tokens, canonical JSON.

- Files holding secrets are created 0600 from the first byte (:func:`likeness.files.write_secret`,
  shared with provenance), and are refused when the group or others can read them.
- Envelope encryption: AES-256-GCM with a random 96-bit nonce and associated data that binds each
  ciphertext to its row. A sealed blob is ``0x01 ‖ nonce(12) ‖ ciphertext ‖ tag(16)``.
- Management tokens: 256 random bits, shown once; the database keeps a prefix (to name the token)
  and SHA-256 of the whole token. A slow password hash (scrypt, argon2) exists to make guessing a
  *low-entropy* password expensive; a 256-bit random token cannot be guessed at any hash speed, so
  one SHA-256 is enough, and the comparison is constant-time.
- Canonical JSON (what revisions are signed over): sorted keys, no spaces, UTF-8, datetimes as
  ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
SEAL_VERSION = b"\x01"
TOKEN_SCHEME = "lkc_"  # noqa: S105 (the tokens' visible scheme, not a secret)
TOKEN_BYTES = 32
TOKEN_PREFIX_CHARS = len(TOKEN_SCHEME) + 8  # "lkc_" and 48 of the token's 256 bits: names it, reveals nothing useful


class SealError(Exception):
    """A sealed blob could not be opened: wrong key, wrong associated data, or altered bytes."""


def key_id(material: bytes) -> str:
    """A non-secret identifier of a key (first 16 hex of SHA-256), safe to store and log."""
    return hashlib.sha256(b"likeness-key-id" + material).hexdigest()[:16]


def seal(key: bytes, *, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM: ``0x01 ‖ nonce ‖ ciphertext ‖ tag``, authenticated together with ``aad``."""
    nonce = os.urandom(NONCE_BYTES)
    return SEAL_VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, *, blob: bytes, aad: bytes) -> bytes:
    """The plaintext of :func:`seal`'s blob; :class:`SealError` when it does not authenticate."""
    if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != SEAL_VERSION:
        raise SealError("not a sealed blob of a known version")
    nonce, body = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, body, aad)
    except InvalidTag:
        raise SealError("the blob does not authenticate under this key and context") from None


def new_token() -> str:
    """A fresh management token: ``lkc_`` and 256 random bits in URL-safe base64 (43 characters)."""
    return TOKEN_SCHEME + base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).rstrip(b"=").decode("ascii")


def token_prefix(token: str) -> str:
    return token[:TOKEN_PREFIX_CHARS]


def hash_token(token: object) -> str:
    """SHA-256 (hex) of a token, with a domain tag; anything that is not a string hashes to a non-match."""
    raw = token.encode("utf-8", "surrogatepass") if isinstance(token, str) else b"\x00not-a-token"
    return hashlib.sha256(b"likeness/consent-token/v1\x00" + raw).hexdigest()


def tokens_match(token: object, stored_hash: str) -> bool:
    """Constant-time comparison of a presented token with a stored hash."""
    return hmac.compare_digest(hash_token(token), stored_hash)


def utc_text(moment: datetime | None) -> str | None:
    """A datetime as canonical UTC text with microseconds (``None`` stays ``None``)."""
    if moment is None:
        return None
    if moment.utcoffset() is None:
        raise ValueError("a naive datetime has no defined instant: give it a time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8; NaN and infinities refused."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
