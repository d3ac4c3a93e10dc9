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
import stat
from collections.abc import Collection
from pathlib import Path
from typing import BinaryIO


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


def check_secret(path: Path, *, what: str, setting: str, error: type[Exception]) -> None:
    """Refuse a secret file (a key) that is missing, not a regular file, or open to the group or others.

    ``what`` names it and ``setting`` the variable that points at it, in the message of ``error`` (the
    calling package's key error): ``consent master key /var/keys/master.key is readable by others: chmod 600
    /var/keys/master.key``.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise error(f"{what} not found at {path}: run `likeness keys init` or set {setting}") from None
    if not stat.S_ISREG(mode):
        raise error(f"{what} {path} is not a regular file")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise error(f"{what} {path} is readable by others (mode {stat.S_IMODE(mode):04o}): chmod 600 {path}")


def read_secret(path: Path, *, what: str, setting: str, error: type[Exception]) -> bytes:
    """The bytes of a secret file that :func:`check_secret` accepts; a read failure is ``error`` too."""
    check_secret(path, what=what, setting=setting, error=error)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise error(f"cannot read the {what} {path}: {exc.strerror}") from None


PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """``path`` as a directory, every level this call creates 0700 whatever the umask; an existing one is kept.

    ``Path.mkdir(parents=True, mode=…)`` gives the parents it creates the umask's mode (0755
    usually): here each missing level is made and then set to 0700.
    """
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for level in reversed(missing):
        try:
            level.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:  # made meanwhile by another process
            continue
        os.chmod(level, PRIVATE_DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty and 0600 if it is absent (``O_CREAT`` with the mode: never readable by others,
    not even for an instant); an existing file open to others is set to 0600."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, PRIVATE_FILE_MODE)
    else:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # the umask may have taken bits off, never added: make it exact
        os.close(fd)
    return path


def private_sqlite_file(path: Path) -> Path:
    """The SQLite database at ``path`` and its WAL and shared-memory files readable by their owner only.

    Created empty and 0600 when absent (an empty file is an empty SQLite database), so SQLite
    never creates it with the umask's mode; SQLite gives ``-wal`` and ``-shm`` the mode of the
    database file. Existing ones open to others are set to 0600. Raises :class:`OSError`.
    """
    path = Path(path)
    if not path.parent.exists():
        private_dir(path.parent)
    private_file(path)
    for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if extra.exists():
            private_file(extra)
    return path


def open_private(path: Path) -> BinaryIO:
    """A new file at ``path`` for writing, created 0600 (``O_EXCL``: never an existing file or a link)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    return os.fdopen(fd, "wb")


def tighten_tree(root: Path, *, public: Collection[Path] = ()) -> list[Path]:
    """Make ``root`` and every directory under it 0700 and every file 0600, but for the ``public`` files
    (left readable); returns what was changed. Links are not followed."""
    root = Path(root)
    keep = {Path(p).absolute() for p in public}
    changed: list[Path] = []

    def fix(path: Path, *, mode: int) -> None:
        current = stat.S_IMODE(path.lstat().st_mode)
        if current & 0o077 and path.absolute() not in keep:
            os.chmod(path, current & ~0o077 | (mode & 0o700), follow_symlinks=False)
            changed.append(path)

    if not root.is_dir() or root.is_symlink():
        return changed
    fix(root, mode=PRIVATE_DIR_MODE)
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        for name in dirs:
            if not (base / name).is_symlink():
                fix(base / name, mode=PRIVATE_DIR_MODE)
        for name in files:
            if not (base / name).is_symlink():
                fix(base / name, mode=PRIVATE_FILE_MODE)
    return changed
