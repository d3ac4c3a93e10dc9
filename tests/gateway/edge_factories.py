"""A real ``likeness serve`` process and a raw HTTP/1.1 client over sockets, for the edge tests and the bench.

The client sends a request's head and only as much of its body as the test says, so a test can
show that the server answered before the body was sent.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from live_server import free_port, interrupt

LIKENESS = str(Path(sys.executable).with_name("likeness"))
MIB = 2**20


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:  # type: ignore[type-arg]
        import json

        return json.loads(self.body)  # type: ignore[no-any-return]


@dataclass
class Served:
    """A running ``likeness serve`` (its own process) and where it logs."""

    url: str
    port: int
    process: subprocess.Popen  # type: ignore[type-arg]
    log: Path
    env: dict[str, str] = field(repr=False)

    def cli(self, *args: str) -> str:
        """``likeness ARGS`` against the same data dir; its stdout."""
        done = subprocess.run([LIKENESS, *args], env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def rss_mib(self, *, peak: bool = False) -> float:
        """The server process's resident set now (VmRSS), or its peak since it started (VmHWM), in MiB."""
        wanted = "VmHWM:" if peak else "VmRSS:"
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(wanted):
                return int(line.split()[1]) / 1024
        raise AssertionError(f"no {wanted} for {self.process.pid}")


@contextmanager
def likeness_serve(data_dir: Path, *, cwd: Path | None = None, **settings: str) -> Iterator[Served]:
    """``likeness serve --no-jobs`` on a free port with ``LIKENESS_<NAME>`` settings; stopped with SIGINT."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIKENESS_")}
    if "LIKENESS_SHARED_DATA" in os.environ:
        env["LIKENESS_SHARED_DATA"] = os.environ["LIKENESS_SHARED_DATA"]
    env["LIKENESS_DATA_DIR"] = str(data_dir)
    env.update({f"LIKENESS_{name.upper()}": value for name, value in settings.items()})
    if cwd is not None:
        env["PYTHONPATH"] = str(cwd)
    port = free_port()
    log = data_dir.parent / f"serve-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([LIKENESS, "serve", "--port", str(port), "--no-jobs"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, cwd=cwd)
    served = Served(url=f"http://127.0.0.1:{port}", port=port, process=process, log=log, env=env)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{served.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        yield served
    finally:
        interrupt(process)


class RawClient:
    """One HTTP/1.1 connection: send a head, maybe some body, and read the response as soon as it comes."""

    def __init__(self, port: int, *, timeout: float = 60.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sent_body = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def head(self, method: str, path: str, headers: dict[str, str]) -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def answered(self) -> bool:
        """Whether the server has sent something (without waiting)."""
        return bool(select.select([self.sock], [], [], 0)[0])

    def send_until_answered(self, chunks: Iterator[bytes]) -> bool:
        """Send ``chunks`` while the server has not answered; True if it answered before they ran out."""
        for chunk in chunks:
            if self.answered():
                return True
            try:
                self.sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                return True
            self.sent_body += len(chunk)
        return self.answered()

    def response(self) -> Response:
        """Read one response (head and a Content-Length body)."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"the connection closed before a response: {data!r}")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return Response(status=int(status_line.split()[1]), headers=headers, body=body[:length])


PART = (b'--x\r\nContent-Disposition: form-data; name="portrait"; filename="p.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n")  # a multipart part (boundary x) whose file then goes on and on


def chunked(total: int, *, size: int = 64 * 1024, first: bytes = PART) -> Iterator[bytes]:
    """``first`` then zero bytes, ``total`` in all, in HTTP/1.1 chunked encoding (without the final chunk)."""
    yield f"{len(first):x}\r\n".encode() + first + b"\r\n"
    sent = len(first)
    while sent < total:
        n = min(size, total - sent)
        yield f"{n:x}\r\n".encode() + bytes(n) + b"\r\n"
        sent += n
