"""Where a job's inputs wait for the worker, and where released videos are kept.

Local files under the data dir (``blobs/inputs/<job id>/`` and ``outputs/<job id>.mp4``); every
write goes to a temporary name and is renamed into place, so a reader never sees half a file.
Inputs are deleted when the job ends: the portrait is personal data and is kept no longer than
the job needs it. Every folder is created 0700 and every file 0600, whatever the umask.

An input is read back only through :meth:`BlobStore.read_verified`: the bytes it returns are
the bytes whose SHA-256 it compared with the one the gate recorded, so a file swapped on disk
after the gate (another person's face under this consent) fails closed with
:class:`InputTamperedError`, and the caller decodes exactly what was checked.

>>> import tempfile; from pathlib import Path
>>> store = BlobStore(Path(tempfile.mkdtemp()))
>>> path = store.put_input("gen_00000000000000aa", name="portrait.jpg", data=b"\\xff\\xd8 a jpeg")
>>> path.name, store.input_path("gen_00000000000000aa", name="portrait.jpg").read_bytes()[:2]
('portrait.jpg', b'\\xff\\xd8')
>>> import hashlib; good = hashlib.sha256(b"\\xff\\xd8 a jpeg").hexdigest()
>>> store.read_verified("gen_00000000000000aa", role="portrait", sha256=good)[:2]
b'\\xff\\xd8'
>>> store.read_verified("gen_00000000000000aa", role="portrait", sha256="0" * 64)
Traceback (most recent call last):
...
generations.errors.InputTamperedError: the stored portrait of gen_00000000000000aa is not the file the gate checked ...
>>> store.drop_inputs("gen_00000000000000aa"); path.exists()
False
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import logging
import os
import re
import secrets
import shutil
from pathlib import Path

from generations.errors import InputTamperedError, StorageError
from likeness.files import fsync_dir, open_private, private_dir, tighten_tree

logger = logging.getLogger(__name__)

_JOB_ID = re.compile(r"^gen_[0-9a-f]{16}$")
_NAME = re.compile(r"^(portrait|audio)\.[a-z0-9]{2,5}$")


class BlobStore:
    """Job inputs and released outputs on the local file system."""

    def __init__(self, data_dir: Path) -> None:
        self.inputs_root = Path(data_dir) / "blobs" / "inputs"
        self.outputs_root = Path(data_dir) / "outputs"

    @staticmethod
    def _check(job_id: str, name: str | None = None) -> None:
        if not _JOB_ID.match(job_id):
            raise StorageError(f"not a job id: {job_id!r}")
        if name is not None and not _NAME.match(name):
            raise StorageError(f"not an input name: {name!r}")

    def input_path(self, job_id: str, *, name: str) -> Path:
        self._check(job_id, name)
        return self.inputs_root / job_id / name

    def put_input(self, job_id: str, *, name: str, data: bytes) -> Path:
        """Write one input atomically (temporary name, fsync, rename)."""
        dest = self.input_path(job_id, name=name)
        try:
            private_dir(dest.parent)
            tmp = dest.with_name(f".{name}.{secrets.token_hex(4)}.part")
            with open_private(tmp) as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, dest)
            fsync_dir(dest.parent)
        except OSError as exc:
            raise StorageError(f"could not store the job's input: {exc.strerror or exc}") from exc
        return dest

    def input_of(self, job_id: str, *, role: str) -> Path:
        """The stored input of ``role`` (``portrait`` or ``audio``), whatever its extension."""
        self._check(job_id, f"{role}.bin")
        found = sorted((self.inputs_root / job_id).glob(f"{role}.*"))
        if not found:
            raise StorageError(f"the {role} of {job_id} is no longer stored")
        return found[0]

    def read_verified(self, job_id: str, *, role: str, sha256: str, max_bytes: int | None = None) -> bytes:
        """The stored input of ``role``, read once into memory and returned only if its SHA-256 is ``sha256``.

        Decode the returned bytes, never the file again: what is decoded is what was hashed. A
        file whose hash differs, that grew past ``max_bytes``, or that is a symbolic link raises
        :class:`InputTamperedError`; a missing one :class:`StorageError`.
        """
        path = self.input_of(job_id, role=role)
        digest = hashlib.sha256()
        chunks: list[bytes] = []
        size = 0
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise InputTamperedError(f"the stored {role} of {job_id} was replaced by a link",
                                         role=role, expected_sha256=sha256, found_sha256=None) from None
            raise StorageError(f"the {role} of {job_id} could not be read: {exc.strerror or exc}") from exc
        with os.fdopen(fd, "rb") as handle:
            while chunk := handle.read(1 << 20):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise InputTamperedError(f"the stored {role} of {job_id} is larger than any accepted upload",
                                             role=role, expected_sha256=sha256, found_sha256=None)
                digest.update(chunk)
                chunks.append(chunk)
        found = digest.hexdigest()
        if not hmac.compare_digest(found, str(sha256).lower()):
            raise InputTamperedError(
                f"the stored {role} of {job_id} is not the file the gate checked (SHA-256 {found[:12]}…, "
                f"expected {str(sha256)[:12]}…)", role=role, expected_sha256=sha256, found_sha256=found)
        return b"".join(chunks)

    def drop_inputs(self, job_id: str) -> None:
        self._check(job_id)
        shutil.rmtree(self.inputs_root / job_id, ignore_errors=True)

    def output_path(self, job_id: str) -> Path:
        self._check(job_id)
        return self.outputs_root / f"{job_id}.mp4"

    def output_dest(self, job_id: str) -> Path:
        """Where the release path writes ``job_id``'s video, its folder made (0700) if absent."""
        private_dir(self.outputs_root)
        return self.output_path(job_id)

    def drop_output(self, job_id: str) -> bool:
        """Delete the job's video (and any temporary file of its release); whether a video was there."""
        path = self.output_path(job_id)
        existed = path.exists()
        path.unlink(missing_ok=True)
        self.drop_partials(job_id)
        return existed

    def drop_partials(self, job_id: str) -> int:
        """Delete what an interrupted release of ``job_id`` left (its hidden temporary files); how many."""
        self._check(job_id)
        stale = list(self.outputs_root.glob(f".{job_id}.mp4.*")) if self.outputs_root.is_dir() else []
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)


def secure_data_dir(data_dir: Path, *, public: tuple[str, ...] = ()) -> list[Path]:
    """Create the data dir 0700, and take group and other access off everything already in it.

    Files named in ``public`` (relative to the data dir: the public certificates) are left
    readable. Returns what was changed; a warning names how many, once per call.
    """
    data_dir = private_dir(Path(data_dir))
    changed = tighten_tree(data_dir, public=[data_dir / name for name in public])
    if changed:
        logger.warning("the data dir %s was readable by other users: %d folder(s) and file(s) set to 0700/0600 "
                       "(first: %s)", data_dir, len(changed), changed[0])
    return changed


__all__ = ["BlobStore", "secure_data_dir"]
