"""Functions the sandbox tests run in the child (by reference: they must live in an importable module).

>>> from sandbox_hooks import echo
>>> echo(3)
3
"""

from __future__ import annotations

import ctypes
import os
import resource
import socket
import subprocess
import time

import numpy as np


def echo(value: object) -> object:
    return value


def segfault() -> None:
    ctypes.string_at(0)  # reads address 0: SIGSEGV


def abort() -> None:
    os.abort()


def hang() -> None:
    time.sleep(3600)


def spin() -> None:
    while True:
        pass


def allocate(mib: int) -> int:
    """Touch ``mib`` MiB: a MemoryError under a smaller address-space limit."""
    block = np.ones(mib * 2**20, dtype=np.uint8)
    return int(block[::4096].sum())


def forbidden() -> dict[str, str]:
    """What each forbidden action gives in the child: the exception's name, or "allowed"."""
    outcomes: dict[str, str] = {}

    def attempt(name: str, action) -> None:
        try:
            action()
            outcomes[name] = "allowed"
        except (OSError, ValueError) as exc:  # Python's setrlimit says EPERM as a ValueError
            outcomes[name] = type(exc).__name__

    attempt("socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close())
    attempt("unix socket", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close())
    attempt("subprocess", lambda: subprocess.run(["/bin/true"], check=False))
    attempt("fork", _fork)
    attempt("write a file", lambda: open("/tmp/likeness-sandbox-probe", "wb").close())
    attempt("read a file", lambda: open("/proc/self/status", "rb").close())
    attempt("thread", _thread)
    attempt("signal another process", lambda: os.kill(os.getppid(), 0))
    attempt("signal itself", lambda: os.kill(os.getpid(), 0))
    attempt("raise a limit", _raise_limit)
    attempt("read a limit", lambda: resource.getrlimit(resource.RLIMIT_AS))
    return outcomes


def _raise_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))


def _fork() -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def _thread() -> None:
    import threading

    worker = threading.Thread(target=lambda: None)
    worker.start()
    worker.join()


def frames(count: int, *, size: int) -> object:
    """A generator of ``count`` frames, for streaming."""
    for index in range(count):
        yield np.full((size, size, 3), index, np.uint8)


def planar_eight_channels(path: str) -> tuple[int, ...]:
    """PyAV 18.1's crashing path, on purpose: ``to_ndarray()`` of a planar 8-channel frame."""
    import av

    with av.open(path) as container:
        for frame in container.decode(audio=0):
            planar = av.AudioResampler(format="fltp", layout=frame.layout, rate=frame.sample_rate)
            for out in planar.resample(frame):
                return tuple(out.to_ndarray().shape)
    return ()


def pid_then_frames(count: int, *, size: int) -> object:
    """The child's pid (as a one-element array), then ``count`` frames."""
    yield np.array([os.getpid()], np.int64)
    yield from frames(count, size=size)
