"""``likeness selftest``: release a synthetic clip through the release path and ``detect`` it."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from detector import DetectionReport, analyse
from gateway.deps import open_repository, provenance_identity
from gateway.settings import Settings
from media.samples import FPS, card_frames, card_tone
from provenance import ReleasedVideo, init_identity, release
from provenance.samples import selftest_claim


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
