"""``likeness selftest``: release a synthetic clip through the release path and ``detect`` it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from rich.console import Console

from detector import DetectionReport, analyse
from gateway.deps import open_repository, provenance_identity
from gateway.settings import Settings
from likeness import __version__
from media import Audio
from provenance import GenerationClaim, ReleasedVideo, generation_id_for, init_identity, new_watermark_id, release

SIZE = 512
FPS = 25
SAMPLE_RATE = 48_000


def card_frames(*, seconds: float, size: int = SIZE, fps: int = FPS):  # type: ignore[no-untyped-def]
    """A moving colour test card: smooth gradients and a travelling disc (no faces, no real person)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    for index in range(round(seconds * fps)):
        t = index / fps
        frame = np.empty((size, size, 3), np.float32)
        frame[..., 0] = 128 + 90 * np.sin(2 * np.pi * (xx + 0.15 * t))
        frame[..., 1] = 128 + 90 * np.sin(2 * np.pi * (yy - 0.10 * t) + 1.0)
        frame[..., 2] = 128 + 90 * np.cos(2 * np.pi * (xx + yy + 0.05 * t))
        cx, cy = 0.5 + 0.3 * np.cos(t), 0.5 + 0.3 * np.sin(1.3 * t)
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 < 0.01
        frame[disc] = (240, 230, 200)
        yield np.clip(frame, 0, 255).astype(np.uint8)


def card_tone(*, seconds: float) -> Audio:
    t = np.arange(round(seconds * SAMPLE_RATE), dtype=np.float32) / SAMPLE_RATE
    tone = 0.2 * np.sin(2 * np.pi * (330 + 110 * np.sin(2 * np.pi * 0.5 * t)) * t)
    return Audio(samples=tone[None, :].astype(np.float32), sample_rate=SAMPLE_RATE)


def selftest_claim(*, watermark_id: int | None = None) -> GenerationClaim:
    """A claim for a synthetic test card: no portrait, no audio of a person, operator-attested."""
    watermark_id = new_watermark_id() if watermark_id is None else watermark_id
    return GenerationClaim(
        generation_id=generation_id_for(watermark_id),
        watermark_id=watermark_id,
        watermark_alg="",  # the release path sets its codec's algorithm
        policy_version="selftest",
        consent_ref_sha256=hashlib.sha256(b"likeness selftest: no person depicted").hexdigest(),
        consent_self_attested=True,
        inputs=[],
        generator_name="likeness-selftest",
        generator_version=__version__,
        title="Likeness self-test card",
    )


def run_selftest(
    settings: Settings, *, out: Path | None, seconds: float, console: Console
) -> tuple[DetectionReport, ReleasedVideo]:
    if settings.environment == "development":
        init_identity(settings.keys_dir)  # production brings its own identity
    identity = provenance_identity(settings)
    repository = open_repository(settings)
    claim = selftest_claim()
    dest = out or settings.outputs_dir / f"selftest-{claim.generation_id}.mp4"
    with console.status("releasing the self-test clip (mark, encode, sign, check)"):
        released = release(
            card_frames(seconds=seconds), fps=FPS, audio=card_tone(seconds=seconds), claim=claim,
            identity=identity, repository=repository, dest=dest,
            crf=settings.video_crf, preset=settings.video_preset, strength=settings.watermark_strength,
        )
    with console.status("running detect on it"):
        report = analyse(
            released.path, trust_anchors_pem=identity.trust_anchors_pem,
            watermark_key=identity.watermark_key, repository=repository,
        )
    return report, released
