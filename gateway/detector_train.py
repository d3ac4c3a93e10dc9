"""``likeness detector train``: build the companion classifier's dataset with our generator, then train.

    $ likeness detector train --data ../shared/data/clips --out var/detector
    $ detect clip.mp4 --model var/detector/model/companion.json

For each real clip of ``--data`` (the first ``--seconds`` of it) the generator makes synthetic
*twins* from the clip's own frames and audio: twin A from its first frame with its own audio and
default controls; twin B from its middle frame with another clip's audio and random controls
(emotion, intensity, gaze, zoom). A clip whose audio is silent or missing (peak loudness — the
90th percentile of 20 ms RMS — under −40 dBFS) borrows the audio of the next audible clip in
name order; when no clip is audible, espeak-ng speaks a fixed sentence. The twins are never
written as video: their frames are cropped in memory (:mod:`detector.dataset`), so the
classifier learns the generator's traces on the same people, not who they are. This module
lives in the gateway because it joins the generator and the detector, which must not import
each other.

``--stills DIR`` (with ``--speech DIR``) adds synthetic sources with no real counterpart: the
generator driven by each portrait of DIR (resized by a random factor and re-saved as JPEG first,
so the source texture varies) with the speech files in turn. Twins made from video frames alone
taught the first model the texture of *these videos'* frames; faces generated from photographs
and paintings looked real to it (docs/detector.md). These sources are always in training, never
held out: the cross-validation still holds out real clips with their twins, so its false-alarm
numbers stay honest, and portraits kept out of ``DIR`` measure generalisation to unseen stills.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.dataset import save_tracks, source_tracks
from generator import Controls, get_generator
from likeness import LikenessError
from media import Audio, MediaError, iter_frames, probe_video, read_audio

logger = logging.getLogger(__name__)

AUDIBLE_DBFS = -40.0
DEFAULT_SECONDS = 12.0
SPOKEN = "The quick brown fox jumps over the lazy dog, and then it walks slowly back home again."


@dataclass
class RealClip:
    name: str
    frames: list[np.ndarray]
    fps: float
    audio: Audio | None  # None: missing or silent


def read_clip(path: Path, *, seconds: float) -> RealClip:
    """The first ``seconds`` of a clip: RGB frames, frame rate, and its audio when audible."""
    info = probe_video(path)
    count = max(1, round(seconds * info.fps))
    frames = list(iter_frames(path, max_frames=count))
    audio: Audio | None = None
    if info.has_audio:
        try:
            audio = read_audio(path).to_mono()
        except MediaError as exc:
            logger.warning("%s: audio unreadable (%s)", path.name, exc)
        if audio is not None and not audible(audio):
            audio = None
    return RealClip(name=path.stem, frames=frames, fps=info.fps, audio=audio)


def audible(audio: Audio) -> bool:
    """The 90th percentile of 20 ms RMS loudness is above ``AUDIBLE_DBFS``."""
    samples = audio.to_mono().samples[0]
    hop = max(1, audio.sample_rate // 50)
    usable = samples[: len(samples) // hop * hop].reshape(-1, hop)
    if usable.size == 0:
        return False
    rms = 20 * np.log10(np.sqrt((usable.astype(np.float64) ** 2).mean(axis=1)) + 1e-9)
    return bool(np.percentile(rms, 90) > AUDIBLE_DBFS)


def _trim(audio: Audio, *, seconds: float) -> Audio:
    """``audio`` cut to ``seconds``, or looped up to it."""
    need = round(seconds * audio.sample_rate)
    samples = audio.samples[0]
    if len(samples) < need:
        samples = np.tile(samples, int(np.ceil(need / max(1, len(samples)))))
    return Audio(samples=samples[:need].copy(), sample_rate=audio.sample_rate)


def make_twins(clip: RealClip, *, donors: list[Audio], index: int, seed: int) -> list[tuple[str, list[np.ndarray]]]:
    """Twin A (first frame, own audio or a donor's) and twin B (middle frame, another donor, random controls)."""
    generator = get_generator("default")
    rng = np.random.default_rng([seed, index])
    seconds = len(clip.frames) / clip.fps
    own = clip.audio if clip.audio is not None else donors[index % len(donors)]
    other = donors[(index + 1) % len(donors)]
    controls_b = Controls(
        emotion=str(rng.choice(["neutral", "happy", "sad", "surprised", "angry"])),  # type: ignore[arg-type]
        intensity=float(rng.uniform(0.6, 1.6)), gaze=str(rng.choice(["camera", "free"])),  # type: ignore[arg-type]
        zoom=float(rng.uniform(0.9, 1.15)), seed=int(rng.integers(1 << 30)),
    )
    plans = [("twinA", clip.frames[0], own, Controls(seed=int(rng.integers(1 << 30)))),
             ("twinB", clip.frames[len(clip.frames) // 2], other, controls_b)]
    twins = []
    for name, portrait, audio, controls in plans:
        generation = generator.prepare(portrait, _trim(audio, seconds=seconds), controls=controls, fps=clip.fps)
        twins.append((name, list(generation.frames())))
    return twins


def still_sources(
    stills: list[Path], *, speech: list[Path], seed: int, seconds: float = 8.0, per_still: int = 2
) -> list[tuple[str, list[np.ndarray]]]:
    """Generated clips from portraits (a random resize and JPEG pass first), ``per_still`` speech files each."""
    import cv2

    from media import read_image

    generator = get_generator("default")
    out = []
    for index, still in enumerate(stills):
        rng = np.random.default_rng([seed, 1000 + index])
        image = read_image(still)
        for k in range(per_still):
            factor = float(rng.uniform(0.7, 1.3))
            size = (max(64, round(image.shape[1] * factor)), max(64, round(image.shape[0] * factor)))
            resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)
            ok, jpeg = cv2.imencode(".jpg", resized, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 96))])
            portrait = cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED) if ok else resized
            audio = _trim(read_audio(speech[(index + k) % len(speech)]).to_mono(), seconds=seconds)
            controls = Controls(emotion=str(rng.choice(["neutral", "happy", "sad"])),  # type: ignore[arg-type]
                                intensity=float(rng.uniform(0.7, 1.4)), seed=int(rng.integers(1 << 30)))
            try:
                frames = list(generator.prepare(portrait, audio, controls=controls).frames())
            except LikenessError as exc:
                logger.warning("%s: no generated clip (%s)", still.name, exc)
                continue
            out.append((f"still-{still.stem}-{k}", frames))
    return out


def _donors(clips: list[RealClip], *, work: Path) -> list[Audio]:
    donors = [clip.audio for clip in clips if clip.audio is not None]
    if donors:
        return donors
    from gateway.demo import synthesise_speech

    return [read_audio(synthesise_speech(SPOKEN, dest=work / "speech.wav")).to_mono()]


def build_dataset(
    data: Path,
    *,
    out: Path,
    seconds: float = DEFAULT_SECONDS,
    seed: int = 0,
    stills: Path | None = None,
    speech: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Crops of every clip in ``data`` and of its two twins (and of clips generated from ``stills``),
    under every variant, saved to ``out``."""
    paths = sorted(p for p in data.iterdir() if p.suffix.lower() in {".mp4", ".mov", ".mkv", ".webm"})
    if len(paths) < 2:
        raise LikenessError(f"{data} holds {len(paths)} video clips; at least 2 are needed to train")
    if (out / "index.json").exists():
        raise LikenessError(f"{out} already holds a dataset; choose another --out or remove it")
    clips = [read_clip(path, seconds=seconds) for path in paths]
    with tempfile.TemporaryDirectory() as work:
        donors = _donors(clips, work=Path(work))
    for index, clip in enumerate(clips):
        rng = np.random.default_rng([seed, index, 0])
        if progress:
            progress(f"{clip.name}: real frames")
        tracks = source_tracks(clip.frames, name=clip.name, clip=clip.name, label=0, fps=clip.fps, rng=rng)
        for twin_name, frames in make_twins(clip, donors=donors, index=index, seed=seed):
            if progress:
                progress(f"{clip.name}: {twin_name}")
            tracks += source_tracks(frames, name=f"{clip.name}-{twin_name}", clip=clip.name, label=1, fps=clip.fps,
                                    rng=rng, synthetic_release=True)
        save_tracks(tracks, folder=out)
    if stills is not None:
        add_stills(out, stills=stills, speech=speech, seed=seed, progress=progress)
    return out


def add_stills(
    out: Path, *, stills: Path, speech: Path | None, seed: int = 0, progress: Callable[[str], None] | None = None
) -> None:
    """Append generated clips from the portraits in ``stills`` (speech from ``speech``) to the dataset ``out``."""
    portraits = sorted(p for p in stills.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"})
    voices = sorted(p for p in (speech or stills).iterdir() if p.suffix.lower() in {".wav", ".mp3", ".flac", ".m4a"})
    if not portraits or not voices:
        raise LikenessError(f"--stills needs portraits in {stills} and speech files in {speech or stills}")
    for index, (name, frames) in enumerate(still_sources(portraits, speech=voices, seed=seed)):
        if progress:
            progress(name)
        rng = np.random.default_rng([seed, 2000 + index])
        save_tracks(source_tracks(frames, name=name, clip=f"still:{name}", label=1, fps=25.0, rng=rng,
                                  synthetic_release=True), folder=out)
