"""An ASGI app under uvicorn on 127.0.0.1 in a thread of this process: ``likeness demo --live``'s server, the
benchmarks' and the tests'.

>>> from fastapi import FastAPI
>>> with serve_in_thread(FastAPI()) as url:
...     url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

import socket
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


__all__ = ["free_port", "serve_in_thread"]
