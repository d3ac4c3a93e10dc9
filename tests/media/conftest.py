"""Fixtures for the media tests: they write real files with PyAV (nothing is read from disk fixtures)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import av
import numpy as np
import pytest
from media_factories import card, encode_audio


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    """Write a video with PyAV: ``make_video("a.mp4", frames=10, fps=25, audio=(samples, rate))``."""

    def make(
        name: str = "clip.mp4",
        *,
        frames: int | Sequence[np.ndarray] = 10,
        fps: int = 25,
        width: int = 64,
        height: int = 48,
        codec: str = "libx264",
        container_format: str | None = None,
        audio: tuple[np.ndarray, int] | None = None,
        audio_codec: str = "aac",
        rotation: int | None = None,
        faststart: bool = False,
        live: bool = False,
    ) -> Path:
        path = tmp_path / name
        if isinstance(frames, int):
            frames = [card(i, width=width, height=height) for i in range(frames)]
        images = list(frames)
        options = {"movflags": "+faststart"} if faststart else {}
        if live:  # a WebM as a browser's MediaRecorder writes it: no duration, no index
            options["live"] = "1"
        with av.open(str(path), mode="w", format=container_format, options=options) as out:
            stream = out.add_stream(codec, rate=fps)
            stream.width, stream.height = images[0].shape[1], images[0].shape[0]
            stream.pix_fmt = "yuv420p"
            if rotation is not None:
                stream.set_display_rotation(rotation)
            audio_stream = None
            if audio is not None:
                samples, rate = audio
                layout = "mono" if samples.shape[0] == 1 else "stereo"
                audio_stream = out.add_stream(audio_codec, rate=rate, layout=layout)
            for image in images:
                out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            out.mux(stream.encode(None))
            if audio is not None and audio_stream is not None:
                encode_audio(out, audio_stream, audio[0], audio[1])
        return path

    return make


@pytest.fixture
def make_audio(tmp_path: Path) -> Callable[..., Path]:
    """Write audio with PyAV: ``make_audio("a.wav", samples, rate=16000, codec="pcm_s16le")``."""

    def make(
        name: str, samples: np.ndarray, *, rate: int, codec: str, container_format: str | None = None
    ) -> Path:
        path = tmp_path / name
        layout = "mono" if samples.shape[0] == 1 else "stereo"
        with av.open(str(path), mode="w", format=container_format) as out:
            stream = out.add_stream(codec, rate=rate, layout=layout)
            encode_audio(out, stream, samples, rate)
        return path

    return make
