"""``likeness demo --live``: a live session end to end on this machine, measured as a client sees it.

A local server runs in this process (uvicorn on 127.0.0.1) over a scratch database, signing with
the operator's provenance keys; a demo partner and a **self-attested** consent for the portrait
(its reference face is the portrait itself; the manifests say the consent is self-attested) are
registered in it. Then, exactly as a partner would, :mod:`likeness.client` opens the session
with the API key and streams the speech over a real WebSocket **in real time** (20 ms messages
paced on the wall clock), receives the signed segments, and downloads the released recording to
``--out``. The scratch database goes at the end; the recording, the segments kept with
``--segments DIR``, and the manifests' signatures stay verifiable with the operator's keys.

Latency of a frame (as the client measures it): from sending the audio that ends at that frame's
time (frame *k* is shown at *k* / fps) to receiving the segment that holds it. ``first_frame_ms``:
from sending the first audio to receiving the first frame.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from consent import ConsentScope
from faces import embed_face
from gateway.app import create_app
from gateway.errors import DemoError
from gateway.local import serve_in_thread
from gateway.runtime import Runtime, ensure_keys
from gateway.sessions_api import WS_MAX_BYTES, LiveHub
from gateway.settings import Settings
from generations import log_grant
from likeness.files import private_dir
from media import read_audio, read_image
from media.samples import default_portrait
from provenance import init_identity
from speech import SAMPLE_SENTENCE, synthesise_speech

PARTNER = "likeness-demo"
PURPOSE = "education"
CHUNK_S = 0.02


@dataclass(frozen=True)
class LocalLive:
    url: str
    api_key: str = field(repr=False)
    consent_id: str
    runtime: Runtime


@contextmanager
def local_live_server(settings: Settings, *, portrait: Path, max_sessions: int | None = None,
                      segment_seconds: float | None = None) -> Iterator[LocalLive]:
    """A live-session server in this process, with a demo partner and a self-attested consent for ``portrait``."""
    if settings.environment == "production":
        raise DemoError("demo mode is refused in production: its consent is self-attested by the operator")
    private_dir(settings.data_dir)
    init_identity(settings.keys_dir)  # the operator's provenance keys sign the demo's segments and recording
    scratch = Path(tempfile.mkdtemp(prefix="likeness-live-demo-"))
    try:
        overrides: dict[str, Any] = {
            "data_dir": scratch / "var", "database_url": None, "redis_url": None, "run_jobs": False,
            "signing_key_file": settings.resolved_signing_key_file,
            "signing_chain_file": settings.resolved_signing_chain_file,
            "trust_anchors_file": settings.resolved_trust_anchors_file,
            "watermark_key_file": settings.resolved_watermark_key_file,
        }
        if max_sessions is not None:
            overrides["live_max_sessions"] = max_sessions
        if segment_seconds is not None:
            overrides["live_segment_seconds"] = segment_seconds
        local = settings.model_copy(update=overrides)
        ensure_keys(local)  # the scratch registry's own consent and audit keys
        runtime = Runtime.build(local)
        _, issued = runtime.partners.add(PARTNER, use_cases=[PURPOSE], quota=1000, rate_per_minute=6000)
        face = embed_face(read_image(portrait), backend=runtime.identity)
        consent, _ = runtime.registry.register(ConsentScope(partners=[PARTNER], purposes=[PURPOSE]),
                                               reference_embeddings=[face])
        log_grant(runtime.audit_log, consent, actor="operator (likeness demo --live, self-attested)")
        app = create_app(local, runtime=runtime, run_jobs=False)
        app.state.live = LiveHub(runtime, self_attested=True)
        with serve_in_thread(app, lifespan="on", name="likeness-demo-live", start_timeout_s=60,
                             ws_max_size=WS_MAX_BYTES) as url:
            yield LocalLive(url=url, api_key=issued.plaintext, consent_id=consent.id, runtime=runtime)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass
class LiveResult:
    """What the client measured, and where the recording went."""

    output: Path
    generation_id: str
    first_frame_ms: float
    latency_p50_ms: float
    latency_p95_ms: float
    frames: int
    segments: int
    audio_seconds: float
    wall_seconds: float
    status: str
    chain_head: str | None

    def live(self) -> dict[str, Any]:
        return {"first_frame_ms": round(self.first_frame_ms, 1), "latency_p50_ms": round(self.latency_p50_ms, 1),
                "latency_p95_ms": round(self.latency_p95_ms, 1), "frames": self.frames,
                "audio_seconds": round(self.audio_seconds, 3), "wall_seconds": round(self.wall_seconds, 3),
                "segments": self.segments, "status": self.status, "chain_head": self.chain_head}


async def stream_in_real_time(server: LocalLive, *, portrait: Path, pcm: bytes, segments_dir: Path | None = None,
                              chunk_s: float = CHUNK_S) -> tuple[str, dict[str, Any]]:
    """Open a session as a partner, stream ``pcm`` (16 kHz s16le) at real time, keep what arrives and measure it.

    Returns the generation id and the measures (``first_frame_ms``, per-frame latencies, frames, …).
    """
    from likeness.client import AsyncClient, Segment, stream_session

    async with AsyncClient(base_url=server.url, api_key=server.api_key, timeout=120) as client:
        ticket = await client.open_session(portrait=portrait, consent_id=server.consent_id, purpose=PURPOSE)
    step = round(16_000 * chunk_s) * 2
    latencies: list[float] = []
    first_frame_s = None
    received: list[Segment] = []
    started = time.perf_counter()
    async with stream_session(ticket, base_url=server.url) as live:
        async def send() -> None:
            t0 = time.perf_counter()
            for index, at in enumerate(range(0, len(pcm), step)):
                await asyncio.sleep(max(0.0, t0 + index * chunk_s - time.perf_counter()))
                await live.send_audio(pcm[at:at + step])
            await live.end()

        sender = asyncio.create_task(send())
        try:
            async for event in live:
                if not isinstance(event, Segment):
                    continue
                received.append(event)
                if segments_dir is not None:
                    (segments_dir / f"segment-{event.sequence:05d}.mp4").write_bytes(event.data)
                fps = live.ready.fps if live.ready else 25.0
                for k in range(event.first_frame, event.first_frame + event.frames):
                    sent = live.first_audio_at if k == 0 else live.audio_sent_at(k / fps)
                    if sent is not None:
                        latencies.append(event.received_at - sent)
                if first_frame_s is None and event.first_frame == 0 and live.first_audio_at is not None:
                    first_frame_s = event.received_at - live.first_audio_at
        finally:
            await asyncio.wait([sender])
        ended = live.ended
    if ended is None:
        raise DemoError("the live session closed without saying how it ended")
    measures = {
        "first_frame_ms": 1000 * (first_frame_s or float("nan")),
        "latencies_ms": [1000 * x for x in latencies], "frames": sum(s.frames for s in received),
        "segments": len(received), "audio_seconds": ended.audio_seconds or 0.0,
        "wall_seconds": time.perf_counter() - started, "status": ended.status or "", "chain_head": ended.chain_head,
        "reason": ended.reason}
    return ticket.id, measures


def speech_pcm(audio: Path | None, *, scratch: Path) -> bytes:
    """The demo's speech (or ``audio``) as 16 kHz mono s16le."""
    path = audio or synthesise_speech(SAMPLE_SENTENCE, dest=scratch / "speech.wav")
    samples = read_audio(path, sample_rate=16_000, mono=True).samples[0]
    return bytes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def run_live_demo(settings: Settings, *, portrait: Path | None, audio: Path | None, out: Path | None,
                  segments_dir: Path | None) -> LiveResult:
    """The whole ``likeness demo --live`` (see the module's docstring)."""
    from likeness.client import AsyncClient

    portrait = portrait or default_portrait()
    if segments_dir is not None:
        segments_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="likeness-demo-speech-") as scratch:
        pcm = speech_pcm(audio, scratch=Path(scratch))
    with local_live_server(settings, portrait=portrait) as server:
        generation_id, measured = asyncio.run(stream_in_real_time(server, portrait=portrait, pcm=pcm,
                                                                  segments_dir=segments_dir))
        if measured["status"] != "released":
            raise DemoError(f"the live session ended {measured['reason']} with no recording ({measured['status']})")
        dest = out or private_dir(settings.outputs_dir) / f"demo-live-{generation_id}.mp4"

        async def download() -> Path:
            async with AsyncClient(base_url=server.url, api_key=server.api_key) as client:
                return await client.download(generation_id, dest=dest)

        output = asyncio.run(download())
    latencies = measured["latencies_ms"] or [float("nan")]
    return LiveResult(output=output, generation_id=generation_id, first_frame_ms=measured["first_frame_ms"],
                      latency_p50_ms=statistics.median(latencies), latency_p95_ms=_p95(latencies),
                      frames=measured["frames"], segments=measured["segments"],
                      audio_seconds=measured["audio_seconds"], wall_seconds=measured["wall_seconds"],
                      status=measured["status"], chain_head=measured["chain_head"])


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


__all__ = ["LiveResult", "LocalLive", "local_live_server", "run_live_demo", "stream_in_real_time"]
