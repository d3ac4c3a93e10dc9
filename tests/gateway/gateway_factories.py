"""A real gateway for the tests: uvicorn on 127.0.0.1 in a thread, over a real database and real keys.

Faces are frames of the shared clips (one clip is one person); speech comes from espeak-ng.
"""

from __future__ import annotations

import io
import os
import subprocess
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from live_server import serve_in_thread
from PIL import Image

from consent import ConsentScope
from faces import embed_face
from gateway.app import create_app
from gateway.runtime import Runtime, ensure_keys
from gateway.sessions_api import WS_MAX_BYTES
from gateway.settings import Settings
from generations import log_grant
from media import iter_frames, probe_video

SHARED_DATA = Path(os.environ.get("LIKENESS_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
# For a module's ``pytestmark`` (or one test) that needs the shared clips.
needs_shared_data = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"test media not present at {SHARED_DATA}")


@dataclass
class LiveGateway:
    url: str
    runtime: Runtime
    settings: Settings

    def client(self, key: str | None = None, *, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Client:
        sent = {"Authorization": f"Bearer {key}"} if key else {}
        sent.update(headers or {})
        return httpx.Client(base_url=self.url, headers=sent, timeout=60, **kwargs)

    def submit(self, key: str, *, consent_id: str, portrait: bytes, audio: bytes) -> str:
        """A generation by the partner holding ``key``, which must be accepted; the job's id."""
        with self.client(key) as client:
            return submit_generation(client, consent_id=consent_id, portrait=portrait, audio=audio)


@contextmanager
def live_gateway(settings: Settings, *, run_jobs: bool = True, **server: Any) -> Iterator[LiveGateway]:
    """``likeness serve`` in a thread: the app, its lifespan (jobs consumer and recovery) and real HTTP
    (``server``: more of uvicorn's settings, e.g. its WebSocket keepalive)."""
    ensure_keys(settings)
    runtime = Runtime.build(settings, with_worker=run_jobs)
    app = create_app(settings, runtime=runtime, run_jobs=run_jobs)
    with serve_in_thread(app, lifespan="on", name="gateway", start_timeout_s=60, stop_timeout_s=30,
                         ws_max_size=WS_MAX_BYTES, **server) as url:
        yield LiveGateway(url=url, runtime=runtime, settings=settings)


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


def tone_wav(seconds: float = 1.0) -> bytes:
    """A 220 Hz tone as 16 kHz mono WAV: readable audio with no speech in it."""
    rate = 16000
    samples = (0.2 * np.sin(2 * np.pi * 220 * np.arange(int(rate * seconds)) / rate) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


@dataclass
class Person:
    """One person of the shared clips: reference frames (enrolled) and other frames (portraits)."""

    clip: str
    references: list[np.ndarray]
    portraits: list[np.ndarray]


def person(shared_data: Path, clip: str) -> Person:
    frames = clip_frames(shared_data / "clips" / f"{clip}.mp4", 6)
    return Person(clip=clip, references=frames[:3], portraits=frames[3:])


# The people most tests use, read once a session (conftest.py in tests/gateway and tests/generations names them).
@pytest.fixture(scope="session")
def alice() -> Person:
    return person(SHARED_DATA, "lp_d0")


@pytest.fixture(scope="session")
def bob() -> Person:
    return person(SHARED_DATA, "lp_d3")


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


def media_files(portrait: bytes, audio: bytes) -> dict[str, tuple[str, bytes, str]]:
    """The multipart files of ``POST /v1/generations``."""
    return {"portrait": ("portrait.jpg", portrait, "image/jpeg"), "audio": ("speech.wav", audio, "audio/wav")}


def submit_generation(client: httpx.Client, *, consent_id: str, portrait: bytes, audio: bytes) -> str:
    """``POST /v1/generations`` that must be accepted (202); the job's id."""
    response = client.post("/v1/generations", data=generation_form(consent_id=consent_id),
                           files=media_files(portrait, audio))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


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


@contextmanager
def while_rendering(worker: Any, *, at_frame: int, do: Callable[[], object]) -> Iterator[None]:
    """The worker's real generations, but ``do()`` (a revocation, a suspension) runs as frame ``at_frame`` renders."""
    real_prepare = worker.generator.prepare

    class Interrupted:
        def __init__(self, generation: Any) -> None:
            self._g = generation

        def __getattr__(self, name: str) -> Any:
            return getattr(self._g, name)

        def frames(self) -> Iterator[Any]:
            for index, frame in enumerate(self._g.frames()):
                if index == at_frame:
                    do()
                yield frame

    worker.generator.prepare = lambda *a, **k: Interrupted(real_prepare(*a, **k))
    try:
        yield
    finally:
        worker.generator.prepare = real_prepare
