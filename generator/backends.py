"""The one :class:`Generator` interface and the registry of backends behind it.

>>> from generator import Generator, available_backends, get_generator
>>> available_backends()
['default', 'learned']
>>> generator = get_generator("default")
>>> isinstance(generator, Generator), generator.name
(True, 'default')
>>> get_generator("vasa")
Traceback (most recent call last):
...
generator.errors.GeneratorError: unknown generator backend 'vasa'; available: default, learned

A backend has a ``name`` and a ``version`` (both go into the C2PA claim of every clip it makes:
``likeness-generator-<name>``), ``prepare`` (the work that needs the whole input: rig, speech,
motion) returning a :class:`PreparedGeneration` whose frames render lazily, ``stream``
(windows of frames, the first one early), and ``live`` (a :class:`LiveSession`: speech in
chunks, frames out within a bounded look-ahead; a backend without one raises GeneratorError).
Neither writes files. Which backend a service uses is
a setting (``LIKENESS_GENERATOR_BACKEND`` in the gateway); this package never reads the
environment.

The registry imports each backend only when it is asked for: the ``learned`` backend pulls in
torch and its model, and :mod:`generator.pipeline` (the ``default`` backend, whose rig and
renderer the learned backend reuses) never imports :mod:`generator.learned`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol, runtime_checkable

import numpy as np

from generator.errors import GeneratorError
from generator.motion import Controls
from media import Audio


@runtime_checkable
class PreparedGeneration(Protocol):
    """One prepared generation: its frames render on demand, window by window."""

    audio: Audio
    fps: float
    timings_s: dict[str, float]

    @property
    def n_frames(self) -> int: ...

    def windows(self, size: int = 25) -> Iterator[list[np.ndarray]]:
        """Consecutive windows of ``size`` (512, 512, 3) uint8 frames (the last may be shorter)."""
        ...

    def frames(self) -> Iterator[np.ndarray]: ...


@runtime_checkable
class LiveSession(Protocol):
    """One live session (:class:`generator.live.LiveStream` for the default backend)."""

    fps: float
    lookahead_s: float
    frames_out: int

    def feed(self, audio: np.ndarray | bytes, *, sample_rate: int = 16_000) -> list[np.ndarray]:
        """Append a chunk of 16 kHz mono speech (float in [-1, 1], int16, or int16 PCM bytes); the frames now ready."""
        ...

    def finish(self) -> list[np.ndarray]:
        """The speech has ended: every remaining frame (``ceil(duration × fps)`` in all)."""
        ...


@runtime_checkable
class Generator(Protocol):
    """Portrait + speech → frames. ``name`` and ``version`` say which backend made a clip."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def prepare(
        self,
        portrait_rgb: np.ndarray,
        audio: Audio,
        *,
        controls: Controls | None = None,
        transcript: str | None = None,
        fps: float = 25.0,
    ) -> PreparedGeneration: ...

    def stream(
        self,
        portrait_rgb: np.ndarray,
        audio: Audio,
        *,
        controls: Controls | None = None,
        transcript: str | None = None,
        window: int = 25,
    ) -> Iterator[list[np.ndarray]]:
        """Windows of ``window`` frames, the first rendered before any later one is started.

        This body serves a backend that subclasses :class:`Generator` and has nothing better than
        :meth:`prepare`'s windows (the default backend); the learned one samples its motion ahead instead.
        """
        yield from self.prepare(portrait_rgb, audio, controls=controls, transcript=transcript).windows(window)

    def live(
        self,
        portrait_rgb: np.ndarray,
        *,
        controls: Controls | None = None,
        fps: float = 25.0,
        lookahead_s: float = 0.12,
        max_seconds: float = 3600.0,
    ) -> LiveSession:
        """A live session: speech fed in chunks, frames out as soon as ``lookahead_s`` of audio past them has come.

        This body serves a backend without a live mode: it refuses, naming the backend (never a silent fallback
        to another backend).
        """
        raise GeneratorError(f"the {self.name!r} generator backend has no live mode; use the 'default' backend")


def _default() -> Generator:
    from generator.pipeline import DefaultGenerator

    return DefaultGenerator()


def _learned() -> Generator:
    from generator.learned import LearnedGenerator  # torch loads only when the learned backend is asked for

    return LearnedGenerator()


_BACKENDS: dict[str, Callable[[], Generator]] = {"default": _default, "learned": _learned}


def available_backends() -> list[str]:
    """The backend names :func:`get_generator` knows."""
    return sorted(_BACKENDS)


def get_generator(name: str = "default") -> Generator:
    """The generator backend called ``name`` (the gateway's settings or ``--backend`` choose it).

    "default" needs no weights; "learned" loads the shipped motion model (hash-checked) once.
    """
    try:
        factory = _BACKENDS[name]
    except KeyError:
        raise GeneratorError(
            f"unknown generator backend {name!r}; available: {', '.join(available_backends())}"
        ) from None
    return factory()


__all__ = ["Generator", "LiveSession", "PreparedGeneration", "available_backends", "get_generator"]
