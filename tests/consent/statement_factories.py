"""Real consent-statement videos for the statement tests, made at test time.

Speech comes from espeak-ng; the talking face from the project's own default generator (a portrait
animated by the speech), written to an H.264/AAC MP4 with PyAV directly (the packages' single
writer is for released videos only).
"""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
from collections.abc import Iterable
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import av
import cv2
import matplotlib.cbook
import numpy as np
import skimage.data

from consent import Cue, issue_challenge
from consent.statement import Challenge
from generator import Controls, get_generator
from media import Audio, read_audio, read_image

FPS = 25


def grace_hopper() -> np.ndarray:
    return read_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def astronaut() -> np.ndarray:
    """Eileen Collins (skimage's sample), scaled ×2 so her face is wide enough (92 px in the original)."""
    return cv2.resize(skimage.data.astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC)


def speak(text: str, *, path: Path) -> Audio:
    """``text`` spoken by espeak-ng (US English), as 16 kHz mono."""
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True, capture_output=True)
    return read_audio(path, sample_rate=16000, mono=True)


def talking_frames(portrait: np.ndarray, audio: Audio, *, transcript: str) -> list[np.ndarray]:
    """The default generator's frames of ``portrait`` saying ``audio`` (512², 25 fps)."""
    generation = get_generator().prepare(portrait, audio, transcript=transcript, fps=FPS)
    return list(generation.frames())


def write_mp4(path: Path, frames: Iterable[np.ndarray], *, audio: Audio | None) -> Path:
    """H.264 yuv420p at 25 fps, plus AAC when ``audio`` is given."""
    frames = list(frames)
    height, width = frames[0].shape[:2]
    with av.open(str(path), mode="w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": "20", "preset": "veryfast"}
        sound = None
        if audio is not None:
            sound = out.add_stream("aac", rate=audio.sample_rate)
            sound.layout = "mono"
        for frame in frames:
            out.mux(video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        out.mux(video.encode())
        if audio is not None and sound is not None:
            pcm = audio.to_mono().samples[0].astype(np.float32)
            step = 1024
            for start in range(0, len(pcm), step):
                chunk = pcm[start : start + step][None, :]
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="mono")
                frame.sample_rate = audio.sample_rate
                frame.pts = start
                frame.time_base = Fraction(1, audio.sample_rate)
                out.mux(sound.encode(frame))
            out.mux(sound.encode())
    return path


def still_frames(portrait: np.ndarray, *, n: int) -> list[np.ndarray]:
    """The portrait, cropped square around the middle and scaled to 512², repeated ``n`` times."""
    h, w = portrait.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    frame = cv2.resize(portrait[top : top + side, left : left + side], (512, 512), interpolation=cv2.INTER_AREA)
    return [frame] * n


def side_by_side(left: list[np.ndarray], right: np.ndarray) -> list[np.ndarray]:
    """Each frame of ``left`` with ``right`` (scaled to its height) beside it: two faces."""
    h = left[0].shape[0]
    scaled = cv2.resize(right, (round(right.shape[1] * h / right.shape[0]), h), interpolation=cv2.INTER_AREA)
    width = (left[0].shape[1] + scaled.shape[1]) // 2 * 2
    return [np.ascontiguousarray(np.hstack([f, scaled])[:, :width]) for f in left]


def challenge_with(words: list[str], *, now: datetime) -> Challenge:
    """A challenge as :func:`consent.issue_challenge` makes it, but with the passcode ``words`` (for repeatable tests).

    The portal never chooses words: a test does, so that its synthetic speech is one measured to be heard.
    """
    issued = issue_challenge("education by Acme", now=now)
    phrase = " ".join(words)
    text = issued.statement_text.replace(issued.phrase, phrase)
    return dataclasses.replace(issued, phrase=phrase, statement_text=text,
                               phrase_sha256=hashlib.sha256(text.encode()).hexdigest())


def turning_frames(portrait: np.ndarray, audio: Audio, *, transcript: str, cues: Iterable[Cue],
                   lag_s: float = 0.4, degrees: float = 20.0) -> list[np.ndarray]:
    """The default generator's frames with the head turning ``degrees`` the cued way ``lag_s`` after each cue.

    What a person following the cues does, and what a generator watching them in real time can do: the
    yaw of the motion track is replaced (a 1 s turn and back per cue; + is the person's left).
    """
    generation = get_generator().prepare(portrait, audio, transcript=transcript, fps=FPS,
                                         controls=Controls(intensity=0.0))
    t = np.arange(generation.n_frames) / FPS
    yaw = np.zeros(generation.n_frames)
    for cue in cues:
        bump = np.clip(1 - np.abs(t - (cue.at_s + lag_s + 0.5)) / 0.5, 0, 1) * degrees
        yaw += bump if cue.turn == "left" else -bump
    generation.motion.arrays["yaw"] = yaw.astype(np.float32)
    generation.motion.arrays["tx"] = (0.35 * yaw).astype(np.float32)
    return [generation.frame(i) for i in range(generation.n_frames)]


def padded(audio: Audio, *, seconds: float) -> Audio:
    """``audio`` with silence after it, to last ``seconds`` (a statement long enough for every cue)."""
    samples = audio.to_mono().samples[0]
    extra = max(0, round(seconds * audio.sample_rate) - len(samples))
    return Audio(np.concatenate([samples, np.zeros(extra, np.float32)]), audio.sample_rate)


def released(frames: list[np.ndarray], audio: Audio, *, keys_dir: Path, dest: Path) -> Path:
    """``frames`` + ``audio`` through the platform's release path: every frame watermarked, the MP4 C2PA-signed."""
    from sqlmodel import SQLModel, create_engine

    from provenance import (
        GenerationClaim,
        ManifestRepository,
        generation_id_for,
        init_identity,
        load_identity,
        new_watermark_id,
        release,
    )

    init_identity(keys_dir)
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    wid = new_watermark_id()
    claim = GenerationClaim(generation_id=generation_id_for(wid), watermark_id=wid, watermark_alg="",
                            policy_version="test", consent_ref_sha256="0" * 64, consent_self_attested=True,
                            inputs=[], generator_name="default", generator_version="test",
                            title="a consent statement made by the platform's own generator")
    out = release(iter(frames), fps=FPS, audio=audio, claim=claim, identity=load_identity(keys_dir=keys_dir),
                  repository=ManifestRepository(engine), dest=dest)
    return out.path


def stream_copy(src: Path, dest: Path) -> Path:
    """A stream-copy remux of ``src`` (PyAV): the frames untouched, the C2PA manifest gone."""
    with av.open(str(src)) as inp, av.open(str(dest), mode="w", format="mp4") as out:
        streams = {}
        for stream in inp.streams:
            if stream.type in ("video", "audio"):
                streams[stream.index] = out.add_stream_from_template(stream)
        for packet in inp.demux(list(inp.streams)):
            if packet.stream.index in streams and packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    return dest
