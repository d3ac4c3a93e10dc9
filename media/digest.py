"""The SHA-256 a file is named by: inputs in a claim or a report, model files against their cards.

>>> import tempfile
>>> from pathlib import Path
>>> from media import file_sha256
>>> path = Path(tempfile.mkdtemp()) / "hello.txt"
>>> _ = path.write_bytes(b"hello")
>>> file_sha256(path)
'2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824'

The file is read in 1 MiB blocks, so a large video or model is never in memory whole.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path | str) -> str:
    """The hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
