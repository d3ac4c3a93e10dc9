"""Key files shared by the packages that sign: an Ed25519 private key read from a private PEM file.

>>> import tempfile; from pathlib import Path
>>> from cryptography.hazmat.primitives import serialization as s
>>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
>>> from likeness.files import write_secret
>>> path = Path(tempfile.mkdtemp()) / "log.key"
>>> write_secret(path, Ed25519PrivateKey.generate().private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8,
...                                                               s.NoEncryption()))
>>> type(load_ed25519_key(path, what="log signing key", setting="LOG_KEY", error=ValueError)).__name__
'Ed25519PrivateKey'
>>> _ = path.chmod(0o644); load_ed25519_key(path, what="log signing key", setting="LOG_KEY", error=ValueError)
Traceback (most recent call last):
ValueError: log signing key ... is readable by others (mode 0644): chmod 600 ...
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from likeness.files import read_secret


def load_ed25519_key(path: Path, *, what: str, setting: str, error: type[Exception]) -> Ed25519PrivateKey:
    """The Ed25519 key in the unencrypted PEM file at ``path`` (0600: :func:`likeness.files.read_secret`);
    anything else raises ``error`` naming ``what``, never quoting the file."""
    pem = read_secret(path, what=what, setting=setting, error=error)
    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise error(f"{what} {path} is not an unencrypted PEM private key") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise error(f"{what} {path} is not an Ed25519 key")
    return private
