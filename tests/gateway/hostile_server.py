"""A real ``likeness serve`` process to throw the hostile-media corpus at, and what each request cost it.

Used by ``tests/gateway/test_hostile_server.py`` and ``bench/hostile_corpus.py``: the data dir is
prepared in this process (keys, one partner, one person's consent), then the server runs as its
own process, exactly as an operator starts it, so a crash in it cannot hide in the test's process.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from gateway_factories import SHARED_DATA, Person, register_consent
from hostile_corpus import Item
from live_server import free_port, interrupt

from gateway.runtime import Runtime, ensure_keys
from gateway.settings import Settings

LIKENESS = str(Path(sys.executable).with_name("likeness"))


@dataclass
class Shot:
    """One request: which item in which field, what came back, and whether the same server lived on."""

    item: str
    field: str
    status: int
    error_code: str | None
    body: str
    elapsed_s: float
    alive_after: bool
    peak_after_mib: float = 0.0


@dataclass
class RunningServer:
    url: str
    data_dir: Path
    process: subprocess.Popen[str]
    key: str
    consent_id: str
    portrait: np.ndarray
    sample_statement: bytes = b""
    rss_at_start_mib: float = 0.0
    warm_peak_mib: float = 0.0
    shots: list[Shot] = field(default_factory=list)

    def _status_field(self, name: str) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    def rss_mib(self) -> float:
        return self._status_field("VmRSS")

    def peak_rss_mib(self) -> float:
        return self._status_field("VmHWM")

    def alive(self) -> bool:
        if self.process.poll() is not None:
            return False
        try:
            return httpx.get(f"{self.url}/healthz", timeout=30).status_code == 200
        except httpx.TransportError:
            return False

    def send(self, item: Item, *, path: str, field: str, files: dict[str, Any], data: dict[str, str],
             headers: dict[str, str] | None = None) -> Shot:
        sent = dict(files)
        sent[field] = (item.filename, item.data, item.content_type)
        started = time.perf_counter()
        try:
            response = httpx.post(f"{self.url}{path}", files=sent, data=data, headers=headers or {}, timeout=300)
            status, body = response.status_code, response.text
        except httpx.TransportError as exc:  # the server went away mid-request
            status, body = 0, f"transport error: {exc}"
        elapsed = time.perf_counter() - started
        code = None
        if 400 <= status < 600:
            try:
                code = response.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = None
        shot = Shot(item=item.name, field=field, status=status, error_code=code, body=body, elapsed_s=elapsed,
                    alive_after=self.alive(), peak_after_mib=self.peak_rss_mib())
        self.shots.append(shot)
        return shot

    def portal_upload(self, item: Item, *, http: httpx.Client, path: str, field: str, csrf: str) -> Shot:
        """``item`` uploaded to a portal step (``path``) in a person's draft; the portal answers with pages."""
        started = time.perf_counter()
        try:
            response = http.post(path, data={"csrf": csrf}, files=[(field, (item.filename, item.data,
                                                                             item.content_type))], timeout=300)
            status, body = response.status_code, response.text
        except httpx.TransportError as exc:
            status, body = 0, f"transport error: {exc}"
        elapsed = time.perf_counter() - started
        found = re.search(r'id="error-text">(.*?)</p>', body, flags=re.S) if 400 <= status < 500 else None
        code = html.unescape(found.group(1)).strip() if found else None
        shot = Shot(item=item.name, field=f"portal:{field}", status=status, error_code=code, body=body,
                    elapsed_s=elapsed, alive_after=self.alive(), peak_after_mib=self.peak_rss_mib())
        self.shots.append(shot)
        return shot

    def warm_up(self, *, portrait: bytes, audio: bytes, photos: list[bytes]) -> float:
        """Valid work first (a generation released, reference photos checked, a statement examined), so every
        model the server loads is loaded; returns the peak resident memory (MiB) after it: the baseline."""
        headers = {"Authorization": f"Bearer {self.key}"}
        files = {"portrait": ("portrait.jpg", portrait, "image/jpeg"), "audio": ("speech.wav", audio, "audio/wav")}
        created = httpx.post(f"{self.url}/v1/generations", files=files, headers=headers, timeout=300,
                             data={"consent_id": self.consent_id, "purpose": "education"})
        assert created.status_code == 202, created.text
        deadline = time.monotonic() + 300
        while httpx.get(f"{self.url}/v1/generations/{created.json()['id']}", headers=headers,
                        timeout=60).json()["status"] not in ("released", "failed", "cancelled"):
            assert time.monotonic() < deadline, "the warm-up generation did not end"
            time.sleep(0.5)
        from portal_factories import PortalClient

        client = PortalClient(self.url)
        try:
            client.start()
            assert client.photos(*photos).status_code == 303, client.error()
            assert client.scope().status_code == 303
            client.get("/consent/statement")
            client.upload_statement(self.sample_statement)
        finally:
            client.close()
        self.warm_peak_mib = self.peak_rss_mib()
        return self.warm_peak_mib

    def generation(self, item: Item, *, field: str, portrait: bytes, audio: bytes) -> Shot:
        files = {"portrait": ("portrait.jpg", portrait, "image/jpeg"), "audio": ("speech.wav", audio, "audio/wav")}
        return self.send(item, path="/v1/generations", field=field, files=files,
                         data={"consent_id": self.consent_id, "purpose": "education"},
                         headers={"Authorization": f"Bearer {self.key}"})


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "LIKENESS_DATA_DIR": str(data_dir)}
    for name in ("LIKENESS_DATABASE_URL", "LIKENESS_REDIS_URL", "LIKENESS_ENVIRONMENT"):
        env.pop(name, None)
    env.update(extra)
    return env


@contextmanager
def start_server(data_dir: Path, *, who: Person, extra_env: dict[str, str] | None = None) -> Iterator[RunningServer]:
    """Prepare ``data_dir`` (keys, partner ``acme``, ``who``'s consent) and run ``likeness serve`` on it."""
    settings = Settings.for_tests(data_dir)
    ensure_keys(settings)
    runtime = Runtime.build(settings)
    _, issued = runtime.partners.add("acme", use_cases=["education"], quota=10_000, rate_per_minute=100_000)
    consent_id, _ = register_consent(runtime, who)
    runtime.engine.dispose()
    port = free_port()
    # the portal's abuse limits are the edge's business (tests/gateway/test_edge.py): here one client sends everything
    env = {"LIKENESS_PORTAL_RATE_PER_MINUTE": "100000", "LIKENESS_PORTAL_POW_BITS": "8", **(extra_env or {})}
    process = subprocess.Popen([LIKENESS, "serve", "--port", str(port)], env=server_env(data_dir, **env),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    statement = data_dir.parent / "statement.mp4"  # 4 s of the person's own clip: a real recording to examine
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i",
                    str(SHARED_DATA / "clips" / f"{who.clip}.mp4"), "-t", "4", "-c", "copy", str(statement)],
                   check=True, timeout=120)
    running = RunningServer(url=f"http://127.0.0.1:{port}", data_dir=data_dir, process=process,
                            key=issued.plaintext, consent_id=consent_id, portrait=who.portraits[0],
                            sample_statement=statement.read_bytes())
    try:
        deadline = time.monotonic() + 120
        while not running.alive():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"likeness serve did not start: {process.stderr.read() if process.stderr else ''}")
            time.sleep(0.2)
        running.rss_at_start_mib = running.rss_mib()
        yield running
    finally:
        interrupt(process)


__all__ = ["LIKENESS", "RunningServer", "Shot", "server_env", "start_server"]
