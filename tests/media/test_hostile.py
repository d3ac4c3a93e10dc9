"""Damaged and hostile files: every reader refuses them with a MediaError, never anything else."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from media_factories import card, image_bytes, tone
from PIL import Image

from media import MediaError, iter_frames, probe_video, read_audio, read_image


def _readers(path: Path) -> list[Callable[[], object]]:
    data = path.read_bytes()
    return [
        lambda: probe_video(path),
        lambda: list(iter_frames(path, every=2)),
        lambda: read_audio(path, sample_rate=16_000, mono=True),
        lambda: read_audio(data),
        lambda: read_image(data),
    ]


@pytest.fixture
def seeds(make_video, make_audio) -> dict[str, bytes]:
    stereo = tone(0.5, rate=48_000, channels=2)
    files = {
        "mp4": make_video("a.mp4", frames=12, audio=(stereo, 48_000), faststart=True),
        "webm": make_video("a.webm", frames=12, codec="libvpx-vp9", container_format="webm",
                           audio=(stereo, 48_000), audio_codec="libopus"),
        "wav": make_audio("a.wav", stereo, rate=48_000, codec="pcm_f32le"),
        "mp3": make_audio("a.mp3", stereo, rate=48_000, codec="libmp3lame"),
        "flac": make_audio("a.flac", stereo, rate=48_000, codec="flac"),
        "m4a": make_audio("a.m4a", stereo, rate=48_000, codec="aac", container_format="ipod"),
    }
    data = {name: path.read_bytes() for name, path in files.items()}
    data["jpeg"] = image_bytes(Image.fromarray(card(1)), fmt="JPEG")
    data["png"] = image_bytes(Image.fromarray(card(2)), fmt="PNG")
    data["webp"] = image_bytes(Image.fromarray(card(3)), fmt="WEBP")
    return data


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    damaged = bytearray(data)
    operation = int(rng.integers(0, 4))
    if operation == 0:  # flipped bytes anywhere
        for _ in range(int(rng.integers(1, 20))):
            damaged[int(rng.integers(0, len(damaged)))] = int(rng.integers(0, 256))
    elif operation == 1:  # truncated
        damaged = damaged[: int(rng.integers(1, len(damaged)))]
    elif operation == 2:  # a run of noise
        start = int(rng.integers(0, len(damaged)))
        damaged[start:start + int(rng.integers(1, 200))] = rng.bytes(int(rng.integers(1, 200)))
    else:  # the header damaged
        start = int(rng.integers(0, min(len(damaged), 200)))
        damaged[start:start + 4] = rng.bytes(4)
    return bytes(damaged)


def test_damaged_files_raise_only_media_errors(seeds, tmp_path):
    rng = np.random.default_rng(2024)
    path = tmp_path / "damaged.bin"
    names = sorted(seeds)
    outcomes = {"ok": 0, "refused": 0}
    for _ in range(60):
        name = names[int(rng.integers(0, len(names)))]
        path.write_bytes(_mutate(seeds[name], rng))
        for read in _readers(path):
            try:
                read()
            except MediaError:
                outcomes["refused"] += 1
            else:
                outcomes["ok"] += 1
    assert outcomes["refused"] > 0
    assert outcomes["ok"] > 0  # some damage is survivable (a flipped byte in the middle of the data)


@pytest.mark.parametrize("content", [b"", b"\x00", bytes(10), bytes(100_000), b"\xff" * 1000])
def test_empty_and_degenerate_files(tmp_path, content):
    path = tmp_path / "upload"
    path.write_bytes(content)
    for read in _readers(path):
        with pytest.raises(MediaError):
            read()


def test_random_bytes(tmp_path):
    rng = np.random.default_rng(11)
    path = tmp_path / "noise"
    for size in (1, 7, 512, 50_000):
        path.write_bytes(rng.bytes(size))
        for read in _readers(path):
            with pytest.raises(MediaError):
                read()
