"""Decoding untrusted media in a confined child process: a crash, a bomb or a hang fails one call.

>>> import io
>>> from PIL import Image
>>> from media import MediaError, Sandbox
>>> buffer = io.BytesIO()
>>> Image.new("RGB", (4, 2), (0, 128, 255)).save(buffer, format="PNG")
>>> box = Sandbox(memory_mib=256, cpu_s=10, wall_s=20)
>>> box.read_image(buffer.getvalue())[0, 0].tolist()
[0, 128, 255]
>>> try:
...     box.read_image(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(40))
... except MediaError as exc:
...     print(type(exc).__name__, exc.http_status)
MediaError 422

:class:`Sandbox` has the readers of :mod:`media` (``read_image``, ``read_audio``,
``probe_video``, ``iter_frames``) with the same arguments and results, run in a child forked
from a warm server process (multiprocessing's "forkserver", with :mod:`media` preloaded: a call
costs a few milliseconds, not an interpreter start). The child is confined before it reads a
byte: an address-space limit (``RLIMIT_AS``, what it inherited plus ``memory_mib``), a CPU-time
limit (``RLIMIT_CPU``), no core dumps, ``PR_SET_NO_NEW_PRIVS`` and, where libseccomp is present,
a seccomp filter that refuses sockets, ``execve``, new processes (threads are allowed: FFmpeg
decodes with them), opening, creating, renaming or deleting files for writing, signals to other
processes and raising its own limits. The parent
waits at most ``wall_s`` for each reply and kills the child after that.

What the caller sees, always a :class:`MediaError` (never a dead process):

* the file's own problems, as the in-process reader would raise them (corrupt, over the
  :class:`~media.limits.Limits`, …);
* a crash of the decoder (SIGSEGV, SIGABRT, …): ``MediaError`` "the decoder crashed on this file";
* more memory than ``memory_mib``: :class:`MediaTooLargeError`;
* more CPU time than ``cpu_s``, or no reply within ``wall_s``: ``MediaError`` saying which.

Frames of a video come one at a time over a pipe (the child waits while the caller works), so
memory stays bounded by one frame on each side. Each failure is logged (operation, outcome and
timings; never the file's contents).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import io
import logging
import math
import multiprocessing
import multiprocessing.connection
import multiprocessing.context
import multiprocessing.forkserver
import multiprocessing.popen_forkserver
import multiprocessing.reduction
import multiprocessing.spawn
import multiprocessing.util
import os
import resource
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from media.audio import Audio, read_audio
from media.errors import MediaError, MediaTooLargeError
from media.image import read_image
from media.limits import Limits
from media.video import VideoInfo, iter_frames, probe_video

logger = logging.getLogger(__name__)

_MiB = 1024 * 1024
_PIPE_BYTES = 1 << 20  # the pipe's buffer: a 512² frame (768 KiB) in one write
_CRASHES = {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT, signal.SIGTRAP}


@dataclass(frozen=True)
class Sandbox:
    """Where untrusted files are decoded: resource limits for one call (one child process).

    ``memory_mib``: address space the child may add to what it inherits (the decoder's buffers,
    the decoded pixels or samples). ``cpu_s``: CPU time of the whole call (all its threads).
    ``wall_s``: how long the caller waits for one reply (the result, or the next frame).
    ``seccomp``: install the system-call filter where libseccomp is present.
    """

    memory_mib: int = 1024
    cpu_s: float = 120.0
    wall_s: float = 60.0
    seccomp: bool = True

    def __post_init__(self) -> None:
        for name in ("memory_mib", "cpu_s", "wall_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Sandbox.{name} must be positive, not {getattr(self, name)!r}")

    @classmethod
    def for_video(cls) -> Sandbox:
        """Clips up to :meth:`Limits.video` (4096² frames need a few hundred MiB of decoder buffers)."""
        return cls(memory_mib=2048, cpu_s=1800.0, wall_s=60.0)

    def warm_up(self) -> None:
        """Start the forkserver now, rather than in the first call (~0.35 s once per process: it imports media).

        Thread-safe; a server or a CLI may call it in a background thread while it loads other things."""
        _forkserver()
        multiprocessing.forkserver.ensure_running()

    # ------------------------------------------------------------------ the readers

    def read_image(self, source: Path | str | bytes, *, limits: Limits | None = None) -> np.ndarray:
        """:func:`media.read_image` in the sandbox."""
        return self._call(read_image, source, limits=limits)

    def read_audio(
        self,
        source: Path | str | bytes,
        *,
        sample_rate: int | None = None,
        mono: bool = False,
        limits: Limits | None = None,
    ) -> Audio:
        """:func:`media.read_audio` in the sandbox."""
        return self._call(read_audio, source, sample_rate=sample_rate, mono=mono, limits=limits)

    def probe_video(self, path: Path | str, *, limits: Limits | None = None) -> VideoInfo:
        """:func:`media.probe_video` in the sandbox."""
        return self._call(probe_video, path, limits=limits)

    def iter_frames(
        self,
        path: Path | str,
        *,
        every: int = 1,
        max_frames: int | None = None,
        max_side: int | None = None,
        limits: Limits | None = None,
    ) -> Iterator[np.ndarray]:
        """:func:`media.iter_frames` in the sandbox: frames decoded in the child, sent one at a time.

        Arguments are checked now; the file when iteration starts. Stopping early (``break``,
        closing the generator) kills the child.
        """
        if every < 1:
            raise ValueError(f"every must be at least 1, not {every}")
        if max_frames is not None and max_frames < 0:
            raise ValueError(f"max_frames must not be negative, not {max_frames}")
        if max_side is not None and max_side < 2:
            raise ValueError(f"max_side must be at least 2, not {max_side}")
        return self._stream(iter_frames, path, every=every, max_frames=max_frames, max_side=max_side,
                            limits=limits)

    # ------------------------------------------------------------------ the parent's side

    def _call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``function(*args, **kwargs)`` in a confined child: its value, or its error as a MediaError."""
        call = _Call(self, function, args, kwargs, stream=False)
        try:
            kind, value = call.receive()
            if kind == "end":
                raise MediaError("the decoding process ended without a result")
            return value
        finally:
            call.close()

    def _stream(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
        call = _Call(self, function, args, kwargs, stream=True)
        try:
            while True:
                kind, value = call.receive()
                if kind == "end":
                    return
                yield value
        finally:
            call.close()


class _Call:
    """One child process and the pipe its replies come back on."""

    def __init__(self, box: Sandbox, function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                 *, stream: bool) -> None:
        self.box = box
        self.name = getattr(function, "__name__", "call")
        self.started = time.perf_counter()
        self.stream = stream
        self.finished = False  # the child sent its last message and is exiting on its own
        context = _forkserver()
        self.reader, writer = context.Pipe(duplex=False)
        try:
            fcntl.fcntl(writer.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        except OSError:  # a smaller pipe only means more wake-ups
            pass
        self.process = _Process(target=_child, args=(writer, box, function, args, kwargs, stream),
                                name=f"media-sandbox-{self.name}", daemon=True)
        try:
            self.process.start()
        except (OSError, ValueError) as exc:
            self.reader.close()
            writer.close()
            logger.error("sandbox: cannot start a child for %s: %s", self.name, exc)
            raise MediaError(f"the file could not be decoded: the sandbox did not start ({exc})") from exc
        writer.close()  # the child holds the only write end: end of file means it has gone

    def receive(self) -> tuple[str, Any]:
        """The next reply: ("value", v), ("array", a) or ("end", None); a failure raises a MediaError."""
        message = self._message()
        kind = message[0]
        self.finished = kind in ("end", "error") or not self.stream
        if kind == "value":
            return "value", message[1]
        if kind == "array":
            return "value", self._array(message[1], message[2])
        if kind == "audio":
            return "value", Audio(samples=self._array(message[1], message[2]), sample_rate=message[3])
        if kind == "end":
            return "end", None
        error = message[1]
        self._log("over a limit" if isinstance(error, MediaTooLargeError) else "refused", error,
                  level=logging.INFO)
        raise error

    def close(self) -> None:
        """Reap the child: it is exiting if it sent its last message; otherwise (stopped early) kill it."""
        self.reader.close()
        if not self.finished:
            self.process.kill()
        self.process.join(5.0)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join(5.0)
        try:
            self.process.close()
        except ValueError:  # still running after SIGKILL and 5 s: leave it to the forkserver
            logger.error("sandbox: child %s for %s did not exit after SIGKILL", self.process.pid, self.name)

    def _message(self) -> tuple[Any, ...]:
        if not self.reader.poll(self.box.wall_s):
            self.process.kill()
            self.process.join(5.0)
            error = MediaError(f"decoding this file took longer than {self.box.wall_s:g} s: it was stopped")
            self._log("timed out", error)
            raise error
        try:
            return self.reader.recv()
        except (EOFError, OSError):
            raise self._death() from None

    def _array(self, shape: tuple[int, ...], dtype: str) -> np.ndarray:
        size = math.prod(shape) * np.dtype(dtype).itemsize
        buffer = bytearray(size)  # writable, like the in-process readers' arrays
        view, done, fd = memoryview(buffer), 0, self.reader.fileno()
        while done < size:  # the raw bytes that follow the header, straight into the array's buffer
            if not self.reader.poll(self.box.wall_s):
                self._message()  # raises the timeout
            try:
                count = os.readv(fd, [view[done:]])
            except OSError:
                count = 0
            if count == 0:
                raise self._death()
            done += count
        return np.frombuffer(buffer, dtype=dtype).reshape(shape)

    def _death(self) -> MediaError:
        """The error for a child that went away without a reply (it crashed or was killed)."""
        self.process.join(5.0)
        code = self.process.exitcode
        error: MediaError
        if code is not None and code < 0:
            number = -code
            name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
            if number in _CRASHES:
                error = MediaError(f"the decoder crashed on this file ({name}): it is corrupt or hostile")
            elif number == signal.SIGXCPU:
                error = MediaError(f"decoding this file used more than {self.box.cpu_s:g} s of CPU time: "
                                   "it was stopped")
            elif number == signal.SIGSYS:
                error = MediaError("the decoder attempted a forbidden system call on this file: it was stopped")
            else:
                error = MediaError(f"the decoding process was killed ({name})")
        else:
            error = MediaError(f"the decoding process exited without a result (status {code})")
        self._log("died", error)
        return error

    def _log(self, outcome: str, error: BaseException, *, level: int = logging.WARNING) -> None:
        logger.log(level, "sandbox: %s %s after %.0f ms (pid %s): %s", self.name, outcome,
                   1000 * (time.perf_counter() - self.started), self.process.pid, error)


_lock = threading.Lock()
_context: multiprocessing.context.ForkServerContext | None = None


class _Popen(multiprocessing.popen_forkserver.Popen):
    """The forkserver's Popen, except that the child does not run the caller's ``__main__`` again.

    multiprocessing has every child import the parent's main module (a script, ``detect``, the
    server) so that functions defined there can be unpickled; the sandbox runs only functions
    of importable modules, and that import would cost time and run code before the confinement.
    """

    _fds: list[int]  # set by the base class (the descriptors handed to the child); not in typeshed

    def _launch(self, process_obj: multiprocessing.process.BaseProcess) -> None:
        prep_data = multiprocessing.spawn.get_preparation_data(process_obj.name)
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        buf = io.BytesIO()
        multiprocessing.context.set_spawning_popen(self)
        try:
            multiprocessing.reduction.dump(prep_data, buf)
            multiprocessing.reduction.dump(process_obj, buf)
        finally:
            multiprocessing.context.set_spawning_popen(None)
        self.sentinel, w = multiprocessing.forkserver.connect_to_new_process(self._fds)
        parent_w = os.dup(w)  # the child's sentinel of its parent, as in the original
        self.finalizer = multiprocessing.util.Finalize(self, _close_fds, (parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = multiprocessing.forkserver.read_signed(self.sentinel)


def _close_fds(*fds: int) -> None:
    """multiprocessing.util.close_fds, which typeshed does not declare."""
    for fd in fds:
        os.close(fd)


class _Process(multiprocessing.context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: multiprocessing.process.BaseProcess) -> _Popen:  # multiprocessing's name
        return _Popen(process_obj)


def _forkserver() -> multiprocessing.context.ForkServerContext:
    """The forkserver context, with media (PyAV, NumPy, Pillow) preloaded in the server process."""
    global _context
    with _lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["media", "media.sandbox"])
            _context = context
        return _context


# ---------------------------------------------------------------------------------------- the child


def _child(writer: multiprocessing.connection.Connection, box: Sandbox, function: Callable[..., Any],
           args: tuple[Any, ...], kwargs: dict[str, Any], stream: bool) -> None:
    try:
        _confine(box)
    except OSError as exc:
        _reply_error(writer, MediaError(f"the file was not decoded: the sandbox could not be set up ({exc})"))
        writer.close()
        return
    try:
        if stream:
            for item in function(*args, **kwargs):
                _send(writer, item)
            writer.send(("end",))
        else:
            _send(writer, function(*args, **kwargs))
    except BrokenPipeError:  # the caller stopped reading (it has what it wanted, or gave up)
        return
    except MediaError as exc:
        _reply_error(writer, exc)
    except (ValueError, TypeError) as exc:  # a caller's mistake, as the in-process reader raises it
        _reply_error(writer, exc)
    except MemoryError:
        _reply_error(writer, MediaTooLargeError(
            f"decoding this file needs more than {box.memory_mib} MiB of memory: it was stopped"))
    except Exception as exc:  # whatever a decoder raises is this file's failure, not the caller's
        _reply_error(writer, MediaError(f"the decoder failed on this file ({type(exc).__name__})"))
    finally:
        writer.close()


def _send(writer: multiprocessing.connection.Connection, value: Any) -> None:
    """A value: pickled; an array (a frame, an image, samples): a small header, then its raw bytes."""
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        writer.send(("array", array.shape, array.dtype.str))
        _write_all(writer.fileno(), array)
    elif isinstance(value, Audio):
        samples = np.ascontiguousarray(value.samples)
        writer.send(("audio", samples.shape, samples.dtype.str, value.sample_rate))
        _write_all(writer.fileno(), samples)
    else:
        writer.send(("value", value))


def _write_all(fd: int, array: np.ndarray) -> None:
    view = array.data.cast("B")  # the array is C-contiguous
    while view:
        view = view[os.write(fd, view):]


def _reply_error(writer: multiprocessing.connection.Connection, error: BaseException) -> None:
    try:
        writer.send(("error", error))
    except BrokenPipeError:
        pass


def _confine(box: Sandbox) -> None:
    """Limits first (memory, CPU, no core dumps), then no new privileges and the system-call filter."""
    _libc.mallopt(_M_ARENA_MAX, 2)  # each thread's 64 MiB malloc arena would count against RLIMIT_AS
    inherited = _address_space()
    memory = inherited + box.memory_mib * _MiB
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = max(1, math.ceil(box.cpu_s))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if _libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 or _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl failed")
    if box.seccomp:
        _install_filter(pid=os.getpid())


def _address_space() -> int:
    with open("/proc/self/statm", "rb") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38
_M_ARENA_MAX = -8

# libseccomp (scmp_* in seccomp.h)
_ACT_ALLOW = 0x7FFF0000
_CMP_NE = 1
_CMP_MASKED_EQ = 7
_CLONE_THREAD = 0x00010000


def _act_errno(number: int) -> int:
    return 0x00050000 | (number & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def _masked(arg: int, mask: int, value: int) -> _ArgCmp:
    return _ArgCmp(arg, _CMP_MASKED_EQ, mask, value)


_WRITE_FLAGS = (os.O_WRONLY, os.O_RDWR, os.O_CREAT, os.O_TRUNC)
_DENY = _act_errno(errno.EPERM)
# (system call, action, conditions: the rule applies when all hold); everything else is allowed.
_RULES: list[tuple[str, int, tuple[_ArgCmp, ...]]] = [
    *((name, _DENY, ()) for name in (
        "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
        "execve", "execveat", "fork", "vfork", "ptrace", "process_vm_readv", "process_vm_writev",
        "unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "link", "linkat",
        "symlink", "symlinkat", "truncate", "chmod", "fchmodat", "chown", "fchownat", "lchown", "mknod", "mknodat",
    )),
    ("clone", _DENY, (_masked(0, _CLONE_THREAD, 0),)),  # a new process; threads (CLONE_THREAD) are fine
    ("clone3", _act_errno(errno.ENOSYS), ()),  # its flags are out of reach: glibc falls back to clone
    *(("open", _DENY, (_masked(1, flag, flag),)) for flag in _WRITE_FLAGS),
    *(("openat", _DENY, (_masked(2, flag, flag),)) for flag in _WRITE_FLAGS),
    ("creat", _DENY, ()),
    # limits stay as set (root could raise them); reading them (prlimit64 without a new value) is fine
    ("setrlimit", _DENY, ()),
    ("prlimit64", _DENY, (_ArgCmp(2, _CMP_NE, 0, 0),)),
    ("tkill", _DENY, ()),
    ("pidfd_open", _DENY, ()),
    ("pidfd_send_signal", _DENY, ()),
]


def _rules(pid: int) -> list[tuple[str, int, tuple[_ArgCmp, ...]]]:
    """:data:`_RULES`, and signals only to itself (as root, ``kill(-1, SIGKILL)`` would end everything)."""
    others = (_ArgCmp(0, _CMP_NE, pid, 0),)
    return [*_RULES, ("kill", _DENY, others), ("tgkill", _DENY, others)]


def _load_libseccomp() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.restype = ctypes.c_int
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(_ArgCmp)]
    lib.seccomp_load.restype = ctypes.c_int
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.restype = None
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


_libseccomp = _load_libseccomp()  # loaded once, in the forkserver (preloaded), before any child exists


def seccomp_available() -> bool:
    """Whether the sandbox can install its system-call filter here (libseccomp is present)."""
    return _libseccomp is not None


def _install_filter(*, pid: int) -> None:
    lib = _libseccomp
    if lib is None:
        _warn_no_seccomp()
        return
    context = lib.seccomp_init(_ACT_ALLOW)
    if not context:
        raise OSError(errno.ENOMEM, "seccomp_init failed")
    try:
        for name, action, conditions in _rules(pid):
            number = lib.seccomp_syscall_resolve_name(name.encode())
            if number < 0:  # not a system call on this architecture
                continue
            array = (_ArgCmp * len(conditions))(*conditions) if conditions else None
            result = lib.seccomp_rule_add_array(context, action, number, len(conditions), array)
            if result < 0:
                raise OSError(-result, f"seccomp_rule_add({name}) failed")
        result = lib.seccomp_load(context)
        if result < 0:
            raise OSError(-result, "seccomp_load failed")
    finally:
        lib.seccomp_release(context)


_warned = False


def _warn_no_seccomp() -> None:
    global _warned
    if not _warned:
        _warned = True
        logger.warning("sandbox: libseccomp is not installed: children run with resource limits and "
                       "no-new-privileges only, without the system-call filter")
