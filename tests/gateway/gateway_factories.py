"""A real gateway for the tests: uvicorn on 127.0.0.1 in a thread, over a real database and real keys.

Faces are frames of the shared clips (one clip is one person); speech comes from espeak-ng.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from PIL import Image

from consent import ConsentScope
from faces import embed_face
from gateway.app import create_app
from gateway.runtime import Runtime, ensure_keys
from gateway.settings import Settings
from generations import log_grant
from media import iter_frames, probe_video

SHARED_DATA = Path(os.environ.get("LIKENESS_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveGateway:
    url: str
    runtime: Runtime
    settings: Settings

    def client(self, key: str | None = None, *, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Client:
        sent = {"Authorization": f"Bearer {key}"} if key else {}
        sent.update(headers or {})
        return httpx.Client(base_url=self.url, headers=sent, timeout=60, **kwargs)


@contextmanager
def live_gateway(settings: Settings, *, run_jobs: bool = True) -> Iterator[LiveGateway]:
    """``likeness serve`` in a thread: the app, its lifespan (jobs consumer and recovery) and real HTTP."""
    ensure_keys(settings)
    runtime = Runtime.build(settings, with_worker=run_jobs)
    app = create_app(settings, runtime=runtime, run_jobs=run_jobs)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the gateway did not start")
        time.sleep(0.05)
    try:
        yield LiveGateway(url=f"http://127.0.0.1:{port}", runtime=runtime, settings=settings)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def clip_frames(clip: Path, count: int) -> list[np.ndarray]:
    every = max(1, probe_video(clip).frame_count // count)
    return list(iter_frames(clip, every=every, max_frames=count))


def jpeg(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def speech_wav(text: str, dest: Path) -> bytes:
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(dest), text], check=True,
                   capture_output=True)
    return dest.read_bytes()


@dataclass
class Person:
    """One person of the shared clips: reference frames (enrolled) and other frames (portraits)."""

    clip: str
    references: list[np.ndarray]
    portraits: list[np.ndarray]


def person(shared_data: Path, clip: str) -> Person:
    frames = clip_frames(shared_data / "clips" / f"{clip}.mp4", 6)
    return Person(clip=clip, references=frames[:3], portraits=frames[3:])


def register_consent(runtime: Runtime, who: Person, **scope: Any) -> tuple[str, str]:
    """Register ``who``'s consent with their reference faces; returns (consent id, management token)."""
    fields: dict[str, Any] = {"partners": ["acme"], "purposes": ["education"], "prohibited_purposes": ["political"]}
    fields.update(scope)
    references = [embed_face(frame, backend=runtime.identity) for frame in who.references]
    consent, token = runtime.registry.register(ConsentScope(**fields), reference_embeddings=references)
    log_grant(runtime.audit_log, consent, actor="subject")  # as the portal does: the gate refuses unlogged grants
    return consent.id, token


def generation_form(*, consent_id: str, purpose: str = "education", **extra: Any) -> dict[str, Any]:
    return {"consent_id": consent_id, "purpose": purpose, **{k: str(v) for k, v in extra.items()}}


def wait_for(client: httpx.Client, generation_id: str, *, timeout_s: float = 180) -> dict[str, Any]:
    """Poll a job until it ends (released, cancelled or failed)."""
    deadline = time.monotonic() + timeout_s
    while True:
        body = client.get(f"/v1/generations/{generation_id}").json()
        if body["status"] in ("released", "cancelled", "failed"):
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"{generation_id} still {body['status']} after {timeout_s} s")
        time.sleep(0.25)
