"""Servers for the tests: an ASGI app under uvicorn on 127.0.0.1 in a thread of the test process (the gateway
and portal tests), a free port, and the stop of a server run as its own process.

>>> from fastapi import FastAPI
>>> with serve_in_thread(FastAPI()) as url:
...     url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_in_thread(app: Any, *, lifespan: Literal["on", "off"] = "off", name: str = "uvicorn",
                    start_timeout_s: float = 20, stop_timeout_s: float = 10,
                    **config: Any) -> Iterator[str]:
    """``app`` on a free port until the block ends; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan,
                                           **config))
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=stop_timeout_s)


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
