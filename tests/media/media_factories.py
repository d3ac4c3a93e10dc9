"""Media the tests make for themselves: colour cards, tones, images (imported by the media tests)."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

# Eight flat colours in a 4x2 grid: easy to check after a lossy round trip.
PALETTE = np.array(
    [(230, 30, 40), (30, 200, 60), (40, 60, 220), (240, 220, 40),
     (200, 50, 120), (30, 30, 30), (235, 235, 235), (128, 128, 128)],
    np.uint8,
)


def card(index: int, *, width: int = 64, height: int = 48) -> np.ndarray:
    """Frame ``index``: the palette grid, rolled by ``index`` cells, so every frame differs."""
    cells = np.roll(PALETTE, index, axis=0).reshape(2, 4, 3)
    frame = np.repeat(np.repeat(cells, height // 2, axis=0), width // 4, axis=1)
    return np.ascontiguousarray(frame[:height, :width])


def tone(seconds: float, *, rate: int, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    """A sine per channel (channel c at ``freq * (c + 1)``), amplitude 0.5, shape (channels, n)."""
    t = np.arange(round(seconds * rate), dtype=np.float64) / rate
    waves = [0.5 * np.sin(2 * np.pi * freq * (c + 1) * t) for c in range(channels)]
    return np.stack(waves).astype(np.float32)


def encode_audio(
    out: av.container.OutputContainer, stream: av.AudioStream, samples: np.ndarray, rate: int
) -> None:
    layout = "mono" if samples.shape[0] == 1 else "stereo"
    for start in range(0, samples.shape[1], 4096):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples[:, start:start + 4096]), format="fltp", layout=layout
        )
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def eight_channels(path: Path, *, codec: str, container_format: str | None = None, rate: int = 48_000) -> None:
    """One second of 7.1 audio, channel c a tone at 200 + 50·c Hz (written packed: never a planar 8-channel frame)."""
    t = np.arange(rate) / rate
    samples = np.stack([0.3 * np.sin(2 * np.pi * (200 + 50 * c) * t) for c in range(8)])
    interleaved = (samples.T.reshape(1, -1) * 32767).astype(np.int16)
    with av.open(str(path), mode="w", format=container_format) as out:
        stream = out.add_stream(codec, rate=rate, layout="7.1")
        for start in range(0, rate, 1024):
            chunk = np.ascontiguousarray(interleaved[:, start * 8:(start + 1024) * 8])
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="7.1")
            frame.sample_rate, frame.pts = rate, start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def image_bytes(image: Image.Image, *, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()
