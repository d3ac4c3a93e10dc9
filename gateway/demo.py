"""``likeness demo``: the whole pipeline on embedded defaults, through the one release path.

With no arguments: a public-domain portrait that ships with matplotlib (Grace Hopper, US Navy
photo) speaks a sentence synthesised offline with espeak-ng; the generator renders it, the
release path marks, encodes and signs it, and ``detect`` reads it back. ``--portrait`` and
``--audio`` use the user's files (sniffed and held to the media limits).

A demo consent is *self-attested by the operator*: the manifest and the repository record say so
(``consent_self_attested``), and demo mode is refused in production. Consent records, identity
match and policy join this path when their issues land.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from detector import DetectionReport, analyse
from gateway.deps import open_repository, provenance_identity
from gateway.errors import DemoError
from gateway.settings import Settings
from generator import Controls, get_generator
from likeness.files import private_dir
from media import Audio, file_sha256, read_audio, read_image, sniff_file
from media.samples import default_portrait
from provenance import (
    GenerationClaim,
    InputRef,
    ReleasedVideo,
    generation_id_for,
    init_identity,
    new_watermark_id,
    release,
)
from speech import SAMPLE_SENTENCE, synthesise_speech

DEMO_TEXT = SAMPLE_SENTENCE
DEMO_POLICY = "demo-self-attested"


@dataclass(frozen=True)
class DemoInputs:
    portrait_path: Path
    audio_path: Path
    transcript: str | None


def demo_claim(*, inputs: DemoInputs, backend: str, version: str) -> GenerationClaim:
    watermark_id = new_watermark_id()
    portrait_kind, audio_kind = sniff_file(inputs.portrait_path), sniff_file(inputs.audio_path)
    consent = f"likeness demo consent, self-attested by the operator, for portrait {file_sha256(inputs.portrait_path)}"
    return GenerationClaim(
        generation_id=generation_id_for(watermark_id),
        watermark_id=watermark_id,
        watermark_alg="",
        policy_version=DEMO_POLICY,
        consent_ref_sha256=hashlib.sha256(consent.encode()).hexdigest(),
        consent_self_attested=True,
        inputs=[
            InputRef(role="portrait", sha256=file_sha256(inputs.portrait_path), mime=portrait_kind.mime_type),
            InputRef(role="audio", sha256=file_sha256(inputs.audio_path), mime=audio_kind.mime_type),
        ],
        generator_name=f"likeness-generator-{backend}",
        generator_version=version,
        title="Likeness demo",
    )


def run_demo(
    settings: Settings,
    *,
    portrait: Path | None,
    audio: Path | None,
    out: Path | None,
    backend: str | None = None,
    controls: Controls,
    transcript: str | None,
    console: Console,
) -> tuple[DetectionReport, ReleasedVideo]:
    if settings.environment == "production":
        raise DemoError("demo mode is refused in production: its consent is self-attested by the operator")
    generator = get_generator(backend or settings.generator_backend)  # --backend, else LIKENESS_GENERATOR_BACKEND
    private_dir(settings.data_dir)  # 0700 when this makes it, before the keys folder inside it
    init_identity(settings.keys_dir)
    identity = provenance_identity(settings)
    repository = open_repository(settings)
    with tempfile.TemporaryDirectory(prefix="likeness-demo-") as scratch:
        if audio is None:
            audio_path = synthesise_speech(DEMO_TEXT, dest=Path(scratch) / "speech.wav")
            transcript = transcript or DEMO_TEXT
        else:
            audio_path = audio
        inputs = DemoInputs(portrait_path=portrait or default_portrait(), audio_path=audio_path, transcript=transcript)
        portrait_rgb = read_image(inputs.portrait_path)
        speech: Audio = read_audio(inputs.audio_path)
        claim = demo_claim(inputs=inputs, backend=generator.name, version=generator.version)
        with console.status("analysing the portrait and the speech"):
            generation = generator.prepare(portrait_rgb, speech, controls=controls, transcript=inputs.transcript)
        # under the data dir, private like every output there; a path the operator named is theirs to set
        dest = out or private_dir(settings.outputs_dir) / f"demo-{claim.generation_id}.mp4"
        with console.status(f"rendering and releasing {generation.n_frames} frames (mark, encode, sign, check)"):
            released = release(
                generation.frames(), fps=round(generation.fps), audio=generation.audio, claim=claim,
                identity=identity, repository=repository, dest=dest, crf=settings.video_crf,
                preset=settings.video_preset, strength=settings.watermark_strength,
                mode=None if out else 0o600,
            )
    with console.status("running detect on it"):
        report = analyse(
            released.path, trust_anchors_pem=identity.trust_anchors_pem,
            watermark_key=identity.watermark_key, repository=repository,
        )
    return report, released


__all__ = ["DEMO_TEXT", "DemoError", "run_demo"]
