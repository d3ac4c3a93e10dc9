"""Servers for the tests: an ASGI app under uvicorn on 127.0.0.1 in a thread of the test process (the gateway
and portal tests; :mod:`gateway.local`), a free port, and the stop of a server run as its own process."""

from __future__ import annotations

import signal
import subprocess
from typing import Any

from gateway.local import free_port, serve_in_thread


def interrupt(process: subprocess.Popen[Any], *, timeout_s: float = 60) -> None:
    """Stop a server process as Ctrl-C does (SIGINT, a graceful shutdown); killed if it has not ended in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


__all__ = ["free_port", "interrupt", "serve_in_thread"]
