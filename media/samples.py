"""Sample media for the demo, the self-test, tests and benches: a public-domain portrait and a test card.

>>> from media.samples import FPS, card_frames, card_tone, default_portrait
>>> default_portrait().name
'grace_hopper.jpg'
>>> frames = list(card_frames(seconds=0.2, size=64))
>>> len(frames), frames[0].shape, card_tone(seconds=0.5).sample_rate
(5, (64, 64, 3), 48000)

The portrait ships with matplotlib (Grace Hopper, a US Navy photo); the card is a moving colour
test pattern with a tone: no face, no real person.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from media.audio import Audio

SIZE = 512
FPS = 25
SAMPLE_RATE = 48_000


def default_portrait() -> Path:
    """A real, public-domain portrait that a package ships: matplotlib's sample photo of Grace Hopper."""
    import matplotlib.cbook  # imported late: matplotlib is not free to import

    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def card_frames(*, seconds: float, size: int = SIZE, fps: int = FPS) -> Iterator[np.ndarray]:
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
    """The card's sound: a gliding sine at 48 kHz."""
    t = np.arange(round(seconds * SAMPLE_RATE), dtype=np.float32) / SAMPLE_RATE
    tone = 0.2 * np.sin(2 * np.pi * (330 + 110 * np.sin(2 * np.pi * 0.5 * t)) * t)
    return Audio(samples=tone[None, :].astype(np.float32), sample_rate=SAMPLE_RATE)


__all__ = ["FPS", "SAMPLE_RATE", "SIZE", "card_frames", "card_tone", "default_portrait"]
