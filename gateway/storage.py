"""Where a job's inputs wait for the worker, and where released videos are kept.

Local files under the data dir (``blobs/inputs/<job id>/`` and ``outputs/<job id>.mp4``); every
write goes to a temporary name and is renamed into place, so a reader never sees half a file.
Inputs are deleted when the job ends: the portrait is personal data and is kept no longer than
the job needs it.

>>> import tempfile; from pathlib import Path
>>> store = BlobStore(Path(tempfile.mkdtemp()))
>>> path = store.put_input("gen_00000000000000aa", "portrait.jpg", b"\\xff\\xd8 a jpeg")
>>> path.name, store.input_path("gen_00000000000000aa", "portrait.jpg").read_bytes()[:2]
('portrait.jpg', b'\\xff\\xd8')
>>> store.drop_inputs("gen_00000000000000aa"); path.exists()
False
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path

from likeness import LikenessError
from likeness.files import fsync_dir

_JOB_ID = re.compile(r"^gen_[0-9a-f]{16}$")
_NAME = re.compile(r"^(portrait|audio)\.[a-z0-9]{2,5}$")


class StorageError(LikenessError):
    """A blob could not be written or read."""

    http_status = 503


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

    def input_path(self, job_id: str, name: str) -> Path:
        self._check(job_id, name)
        return self.inputs_root / job_id / name

    def put_input(self, job_id: str, name: str, data: bytes) -> Path:
        """Write one input atomically (temporary name, fsync, rename)."""
        dest = self.input_path(job_id, name)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{name}.{secrets.token_hex(4)}.part")
            with tmp.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, dest)
            fsync_dir(dest.parent)
        except OSError as exc:
            raise StorageError(f"could not store the job's input: {exc.strerror or exc}") from exc
        return dest

    def input_of(self, job_id: str, role: str) -> Path:
        """The stored input of ``role`` (``portrait`` or ``audio``), whatever its extension."""
        self._check(job_id, f"{role}.bin")
        found = sorted((self.inputs_root / job_id).glob(f"{role}.*"))
        if not found:
            raise StorageError(f"the {role} of {job_id} is no longer stored")
        return found[0]

    def drop_inputs(self, job_id: str) -> None:
        self._check(job_id)
        shutil.rmtree(self.inputs_root / job_id, ignore_errors=True)

    def output_path(self, job_id: str) -> Path:
        self._check(job_id)
        return self.outputs_root / f"{job_id}.mp4"

    def drop_output(self, job_id: str) -> None:
        self.output_path(job_id).unlink(missing_ok=True)

    def drop_partials(self, job_id: str) -> int:
        """Delete what an interrupted release of ``job_id`` left (its hidden temporary files); how many."""
        self._check(job_id)
        stale = list(self.outputs_root.glob(f".{job_id}.mp4.*")) if self.outputs_root.is_dir() else []
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)


__all__ = ["BlobStore", "StorageError"]
