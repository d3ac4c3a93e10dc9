"""A live session of the default backend: feed speech as it arrives, get frames as soon as the look-ahead allows.

>>> import numpy as np
>>> from generator import get_generator
>>> from media import read_image
>>> from media.samples import default_portrait
>>> session = get_generator("default").live(read_image(default_portrait()), lookahead_s=0.12)
>>> frames = session.feed(np.zeros(8_000, np.float32))      # 0.5 s of 16 kHz audio
>>> len(frames) < 13                                         # the last 120 ms wait for the audio after them
True
>>> frames += session.finish()                               # the tail
>>> len(frames), frames[0].shape                             # ceil(duration × fps)
(13, (512, 512, 3))

Frame ``k`` (shown at ``k / fps``) depends only on the audio before ``k / fps + lookahead_s``: the
speech track comes from :class:`generator.speech.SpeechStream`, the motion from
:class:`generator.motion.LiveMotion` (causal), and rendering is the offline renderer. So a frame is
the same whatever audio follows its horizon and however the audio was chunked; time to the first
frame is the look-ahead plus one frame's work, whatever the length of the speech. Nothing here
writes a file: frames go to the live release path.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from faces import find_face
from generator.errors import GeneratorError
from generator.motion import Controls, LiveMotion
from generator.render import render_frame
from generator.rig import PortraitRig, build_rig
from generator.speech import SpeechStream
from speech.prosody import SAMPLE_RATE

logger = logging.getLogger(__name__)

LOOKAHEAD_S = 0.12
MAX_LIVE_SECONDS = 3600.0


class LiveStream:
    """One live session: :meth:`feed` audio chunks, receive rendered frames; :meth:`finish` flushes the tail.

    Audio is 16 kHz mono: a 1-D float32/float64 array in [-1, 1], an int16 array, or bytes of
    little-endian int16 PCM; any chunk size, including empty. Frames are (512, 512, 3) uint8, in order.
    """

    def __init__(self, rig: PortraitRig, *, controls: Controls, fps: float = 25.0, lookahead_s: float = LOOKAHEAD_S,
                 max_seconds: float = MAX_LIVE_SECONDS) -> None:
        try:
            self.speech = SpeechStream(fps=fps, lookahead_s=lookahead_s)
        except GeneratorError as exc:
            raise GeneratorError(f"cannot open a live session: {exc}") from None
        self.rig, self.controls = rig, controls
        self.fps, self.lookahead_s = self.speech.fps, self.speech.lookahead_s
        self.motion = LiveMotion(controls=controls, fps=self.fps)
        self.max_seconds = float(max_seconds)
        self.frames_out = 0
        self.finished = False
        self.timings_s = {"speech": 0.0, "motion": 0.0, "render": 0.0}

    @property
    def audio_seconds(self) -> float:
        return self.speech.features.n_samples / SAMPLE_RATE

    def feed(self, audio: np.ndarray | bytes, *, sample_rate: int = SAMPLE_RATE) -> list[np.ndarray]:
        """Append a chunk of speech; the frames it made ready (possibly none)."""
        if self.finished:
            raise GeneratorError("this live session is finished: open a new one")
        samples = _samples(audio, sample_rate=sample_rate)
        if self.audio_seconds + len(samples) / SAMPLE_RATE > self.max_seconds:
            raise GeneratorError(f"a live session holds at most {self.max_seconds:g} s of speech")
        started = time.perf_counter()
        values = self.speech.push(samples)
        self.timings_s["speech"] += time.perf_counter() - started
        return self._render(values)

    def finish(self) -> list[np.ndarray]:
        """The speech has ended: every frame not yet returned (``ceil(duration × fps)`` frames in all)."""
        if self.finished:
            return []
        started = time.perf_counter()
        values = self.speech.finish()
        self.timings_s["speech"] += time.perf_counter() - started
        self.finished = True
        frames = self._render(values)
        logger.info("live session: %.2f s of speech, %d frames; %s", self.audio_seconds, self.frames_out,
                    ", ".join(f"{k} {v:.2f} s" for k, v in self.timings_s.items()))
        return frames

    def _render(self, values: list[dict[str, float]]) -> list[np.ndarray]:
        frames = []
        for frame_values in values:
            started = time.perf_counter()
            pose = self.motion.pose(frame_values)
            posed = time.perf_counter()
            frames.append(render_frame(self.rig, pose))
            self.timings_s["motion"] += posed - started
            self.timings_s["render"] += time.perf_counter() - posed
        self.frames_out += len(frames)
        return frames


def open_live(portrait_rgb: np.ndarray, *, controls: Controls | None, fps: float, lookahead_s: float,
              max_seconds: float) -> LiveStream:
    """The default backend's live session: the portrait's rig, then :class:`LiveStream`."""
    controls = controls or Controls()
    rig = build_rig(portrait_rgb, find_face(portrait_rgb), zoom=controls.zoom)
    return LiveStream(rig, controls=controls, fps=fps, lookahead_s=lookahead_s, max_seconds=max_seconds)


def _samples(audio: np.ndarray | bytes, *, sample_rate: int) -> np.ndarray:
    """A chunk as float32 samples, or a GeneratorError saying what is wrong with it."""
    if sample_rate != SAMPLE_RATE:
        raise GeneratorError(f"live audio must be {SAMPLE_RATE} Hz mono, not {sample_rate} Hz: resample it first")
    if isinstance(audio, bytes | bytearray | memoryview):
        data = bytes(audio)
        if len(data) % 2:
            raise GeneratorError("PCM audio must be whole 16-bit samples: the chunk has an odd number of bytes")
        return (np.frombuffer(data, "<i2").astype(np.float32) / 32768.0)
    if not isinstance(audio, np.ndarray):
        raise GeneratorError(f"live audio must be a NumPy array or PCM bytes, not {type(audio).__name__}")
    if audio.ndim == 2 and 1 in audio.shape:
        audio = audio.reshape(-1)
    if audio.ndim != 1:
        raise GeneratorError(f"live audio must be mono (one channel), not an array of shape {audio.shape}")
    if audio.dtype == np.int16:
        return audio.astype(np.float32) / 32768.0
    if audio.dtype not in (np.float32, np.float64):
        raise GeneratorError(f"live audio must be float32/float64 in [-1, 1] or int16 PCM, not {audio.dtype}")
    if not np.isfinite(audio).all():
        raise GeneratorError("the live audio contains NaN or infinite samples")
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


__all__ = ["LOOKAHEAD_S", "MAX_LIVE_SECONDS", "LiveStream", "open_live"]
