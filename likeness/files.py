"""Durable, private file writes shared by every package that keeps secrets or must not lose a rename.

>>> import tempfile, stat; from pathlib import Path
>>> from likeness.files import write_secret
>>> key = Path(tempfile.mkdtemp()) / "keys" / "k.key"
>>> write_secret(key, b"0" * 32)
>>> oct(stat.S_IMODE(key.stat().st_mode)), oct(stat.S_IMODE(key.parent.stat().st_mode))
('0o600', '0o700')
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in ``directory`` durable (fsync the directory itself)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_secret(path: Path, data: bytes) -> None:
    """Create ``path`` 0600 from the first byte (never written, then chmod'ed), atomically; its folder 0700."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
