"""Clips for the classifier's tests, made here: a generated talking face (Grace Hopper + espeak-ng
speech, written without marks, as if they had been stripped), a test card without a face, a clip
shorter than a second, and a face too small to judge."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from generator import Controls, get_generator
from media import read_audio, read_image
from media.samples import card_frames, default_portrait
from speech import synthesise_speech

FPS = 25
SPEECH = "Good morning. This is a short test of the companion classifier, reading a face that never spoke."


def write_mp4(path: Path, frames: Iterable[np.ndarray], *, fps: int = FPS, crf: int = 20) -> Path:
    """An ordinary H.264 file (never released: no watermark, no manifest)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": str(crf), "preset": "veryfast"})
        stream.pix_fmt = "yuv420p"
        first = True
        for frame in frames:
            if first:
                stream.height, stream.width = frame.shape[:2]
                first = False
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="session")
def generated_frames(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/setup installs it)")
    work = tmp_path_factory.mktemp("generated")
    audio = read_audio(synthesise_speech(SPEECH, dest=work / "speech.wav"))
    generation = get_generator("default").prepare(read_image(default_portrait()), audio, controls=Controls(seed=1),
                                                  transcript=SPEECH)
    return list(generation.frames())


@pytest.fixture(scope="session")
def generated_clip(generated_frames: list[np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mp4(tmp_path_factory.mktemp("clips") / "generated.mp4", generated_frames)


@pytest.fixture(scope="session")
def no_face_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mp4(tmp_path_factory.mktemp("clips") / "card.mp4", card_frames(seconds=2.0))


@pytest.fixture(scope="session")
def short_clip(generated_frames: list[np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mp4(tmp_path_factory.mktemp("clips") / "short.mp4", generated_frames[:15])


@pytest.fixture(scope="session")
def tiny_face_clip(generated_frames: list[np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated face shrunk to 128² inside a 512² grey frame: about 23 px between the eyes."""
    def shrink(frame: np.ndarray) -> np.ndarray:
        canvas = np.full((512, 512, 3), 128, np.uint8)
        canvas[192:320, 192:320] = cv2.resize(frame, (128, 128), interpolation=cv2.INTER_AREA)
        return canvas

    return write_mp4(tmp_path_factory.mktemp("clips") / "tiny.mp4", (shrink(f) for f in generated_frames[:75]))
