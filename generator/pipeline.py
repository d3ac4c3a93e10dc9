"""The default backend: portrait + speech → frames, streamed in windows (one :class:`generator.Generator`).

>>> from generator import get_generator                                   # doctest: +SKIP
>>> generation = get_generator("default").prepare(portrait_rgb, audio)    # doctest: +SKIP
>>> for window in generation.windows(25):                                 # doctest: +SKIP
...     consume(window)                                   # lists of (512, 512, 3) uint8 frames

Preparing does the work that needs the whole input once — find the face and build the rig,
analyse the speech, plan the motion (together well under a second for 10 s of speech) — and
rendering then streams: a caller can start on the first window while later ones are rendered,
and a long audio never has all its frames in memory. Nothing here writes a file.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from faces import find_face
from generator.backends import Generator
from generator.errors import GeneratorError
from generator.live import LOOKAHEAD_S, MAX_LIVE_SECONDS, LiveStream, open_live
from generator.motion import Controls, MotionTrack, plan_motion
from generator.render import render_frame
from generator.rig import PortraitRig, build_rig
from generator.speech import SpeechTrack, analyse_speech
from likeness import __version__
from media import Audio

logger = logging.getLogger(__name__)

MAX_SECONDS = 600.0


def rig_and_speech(
    portrait_rgb: np.ndarray, audio: Audio, *, zoom: float, fps: float, transcript: str | None,
    timings: dict[str, float] | None = None,
) -> tuple[PortraitRig, SpeechTrack]:
    """What every backend builds before it plans motion: the portrait's rig and the speech track (each timed
    into ``timings`` when given). Refuses audio over :data:`MAX_SECONDS`."""
    if audio.duration_s > MAX_SECONDS:
        raise GeneratorError(f"the audio is {audio.duration_s:.0f} s long; at most {MAX_SECONDS:.0f} s per clip")
    started = time.perf_counter()
    rig = build_rig(portrait_rgb, find_face(portrait_rgb), zoom=zoom)
    rigged = time.perf_counter()
    speech = analyse_speech(audio, fps=fps, transcript=transcript)
    if timings is not None:
        timings["rig"], timings["speech"] = rigged - started, time.perf_counter() - rigged
    return rig, speech


def prepare_generation(
    portrait_rgb: np.ndarray, audio: Audio, *, controls: Controls, transcript: str | None, fps: float,
    plan: Callable[[SpeechTrack], MotionTrack],
) -> Generation:
    """What every backend's ``prepare`` does: :func:`rig_and_speech`, then ``plan``'s motion for the speech track,
    each step timed into the generation's ``timings_s``. The backends differ in ``plan`` only."""
    timings: dict[str, float] = {}
    rig, speech = rig_and_speech(portrait_rgb, audio, zoom=controls.zoom, fps=fps, transcript=transcript,
                                 timings=timings)
    started = time.perf_counter()
    motion = plan(speech)
    timings["motion"] = time.perf_counter() - started
    logger.info("prepared %d frames (%s visemes) in %.2f s, %.2f s of it motion", len(motion), speech.source,
                sum(timings.values()), timings["motion"])
    return Generation(rig=rig, speech=speech, motion=motion, audio=audio, fps=fps, timings_s=timings)


@dataclass
class Generation:
    """One prepared generation: everything needed to render its frames, window by window."""

    rig: PortraitRig
    speech: SpeechTrack
    motion: MotionTrack
    audio: Audio
    fps: float
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return len(self.motion)

    def frame(self, index: int) -> np.ndarray:
        return render_frame(self.rig, self.motion[index])

    def windows(self, size: int = 25) -> Iterator[list[np.ndarray]]:
        """Consecutive windows of ``size`` rendered frames (the last may be shorter)."""
        if size < 1:
            raise GeneratorError("a window holds at least one frame")
        for start in range(0, self.n_frames, size):
            yield [self.frame(i) for i in range(start, min(start + size, self.n_frames))]

    def frames(self) -> Iterator[np.ndarray]:
        for window in self.windows():
            yield from window


class DefaultGenerator(Generator):
    """Landmark rig + speech visemes + rule-based motion + mesh-warp rendering; CPU, no weights.

    Its ``stream`` is the protocol's: :meth:`prepare`'s windows; :meth:`live` opens a live session.
    """

    name = "default"
    version = __version__

    def prepare(
        self,
        portrait_rgb: np.ndarray,
        audio: Audio,
        *,
        controls: Controls | None = None,
        transcript: str | None = None,
        fps: float = 25.0,
    ) -> Generation:
        controls = controls or Controls()
        return prepare_generation(portrait_rgb, audio, controls=controls, transcript=transcript, fps=fps,
                                  plan=functools.partial(plan_motion, controls=controls))

    def live(
        self,
        portrait_rgb: np.ndarray,
        *,
        controls: Controls | None = None,
        fps: float = 25.0,
        lookahead_s: float = LOOKAHEAD_S,
        max_seconds: float = MAX_LIVE_SECONDS,
    ) -> LiveStream:
        """A live session (:class:`generator.live.LiveStream`): frames from speech fed in chunks."""
        return open_live(portrait_rgb, controls=controls, fps=fps, lookahead_s=lookahead_s, max_seconds=max_seconds)
