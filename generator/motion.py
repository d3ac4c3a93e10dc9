"""Rule-based facial dynamics: speech → per-frame mouth, blinks, head motion, gaze and brows.

>>> import numpy as np
>>> from generator.motion import Controls, plan_motion, speech_like
>>> track = plan_motion(speech_like(np.zeros(50)), controls=Controls(seed=1))
>>> len(track), track[0].jaw_open
(50, 0.0)

What real talking looks like, and how it is approximated here (numbers from the literature on
conversational behaviour and from the real clips of ``../shared/data``; see docs/generator.md):

- **Mouth** comes from the speech track (visemes with co-articulation); intensity does not change it.
- **Blinks**: about 17 a minute while talking (a renewal process with a 0.8 s refractory gap), each
  ~0.25 s: a fast close (2 frames) and a slower reopening; more likely in pauses after speech.
- **Head**: slow, non-repeating drift (a sum of incommensurate sinusoids with random phases, a few
  degrees) plus prosody: emphasis (loudness onsets, pitch peaks) gives a short nod and a small turn,
  pauses calm the head. Translation follows rotation (the head pivots at the neck).
- **Brows** rise with pitch peaks; **gaze** stays on the camera with micro-saccades, or ("free")
  wanders to held targets and looks away briefly at phrase starts.
- **Emotion** is an offset: happy (smile, raised cheeks), sad (corners down, brows in), surprised
  (brows up, jaw a little open), angry (brows down).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np

from generator.errors import GeneratorError
from generator.pose import FramePose
from generator.speech import SpeechTrack

Emotion = Literal["neutral", "happy", "sad", "surprised", "angry"]
Gaze = Literal["camera", "free"]
#: The choices, typed (command lines and training pick from these).
EMOTION_NAMES: tuple[Emotion, ...] = ("neutral", "happy", "sad", "surprised", "angry")
GAZES: tuple[Gaze, ...] = ("camera", "free")
EMOTIONS: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"smile": 0.55, "brow_raise": 0.1},
    "sad": {"smile": -0.45, "brow_raise": -0.25, "pitch": 3.0},
    "surprised": {"brow_raise": 0.8, "jaw_open": 0.12, "smile": 0.05},
    "angry": {"brow_raise": -0.7, "smile": -0.2, "pitch": 1.5},
}
BLINKS_PER_MINUTE = 17.0


@dataclass(frozen=True)
class Controls:
    """What a user can set. ``intensity`` scales head, brow and gaze motion (0: none, 2: lively)."""

    intensity: float = 1.0
    gaze: Gaze = "camera"
    emotion: Emotion = "neutral"
    zoom: float = 1.0
    still_head: bool = False
    seed: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.intensity <= 2.0:
            raise GeneratorError(f"motion intensity must be between 0 and 2, got {self.intensity}")
        if self.gaze not in ("camera", "free"):
            raise GeneratorError(f"gaze must be 'camera' or 'free', got {self.gaze!r}")
        if self.emotion not in EMOTIONS:
            raise GeneratorError(f"emotion must be one of {', '.join(EMOTIONS)}, got {self.emotion!r}")
        if not 0.8 <= self.zoom <= 1.25:
            raise GeneratorError(f"zoom must be between 0.8 and 1.25, got {self.zoom}")


_FIELDS = [f.name for f in fields(FramePose)]


class MotionTrack:
    """Per-frame :class:`FramePose` values, held as one array per parameter."""

    def __init__(self, arrays: dict[str, np.ndarray], *, fps: float) -> None:
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) != 1:
            raise GeneratorError("motion arrays differ in length")
        self.fps = fps
        self._n = lengths.pop()
        defaults = FramePose()
        self.arrays = {
            name: np.asarray(arrays.get(name, np.full(self._n, getattr(defaults, name))), np.float32)
            for name in _FIELDS
        }

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: int) -> FramePose:
        if not -self._n <= index < self._n:
            raise IndexError(index)
        return FramePose(**{name: float(values[index]) for name, values in self.arrays.items()})


def plan_motion(speech: SpeechTrack, *, controls: Controls) -> MotionTrack:
    """The whole clip's motion (cheap: ~1 ms per second of video); rendering streams it."""
    n, fps = speech.n_frames, float(speech.fps)
    rng = np.random.default_rng(controls.seed)
    loud = np.asarray(speech.loudness, np.float32)
    talking = _smooth(np.asarray(speech.voiced, np.float32) * (loud > 0.1), fps * 0.4)
    emotion = EMOTIONS[controls.emotion]
    k = controls.intensity

    arrays: dict[str, Any] = {
        "jaw_open": np.clip(np.asarray(speech.jaw_open) + emotion.get("jaw_open", 0.0), 0, 1),
        "lip_width": np.asarray(speech.lip_width),
        "lip_press": np.asarray(speech.lip_press),
        "lip_tuck": np.asarray(speech.lip_tuck),
        "teeth": np.asarray(speech.teeth),
        "tongue": np.asarray(speech.tongue),
    }
    emphasis = _emphasis(loud, np.asarray(speech.pitch, np.float32), fps=fps)
    arrays["smile"] = np.clip(emotion.get("smile", 0.0) + 0.08 * k * _drift(rng, n, fps, periods=(7.0, 11.0)), -1, 1)
    arrays["brow_raise"] = np.clip(
        emotion.get("brow_raise", 0.0) + k * (0.45 * emphasis + 0.05 * _drift(rng, n, fps, periods=(5.0, 9.0))), -1, 1
    )
    blink = _blinks(rng, n, fps, pauses=1.0 - talking)
    asymmetry = 1.0 + 0.05 * rng.standard_normal()
    arrays["blink_left"] = blink
    arrays["blink_right"] = np.clip(blink * asymmetry, 0, 1)
    arrays["gaze_x"], arrays["gaze_y"] = _gaze(rng, n, fps, mode=controls.gaze, talking=talking, k=k)
    if not controls.still_head:
        calm = 0.55 + 0.45 * talking  # pauses calm the head
        yaw = k * (4.5 * _drift(rng, n, fps, periods=(9.0, 5.3, 3.1)) * calm + 1.6 * _smooth(emphasis, fps * 0.3))
        pitch = k * (2.4 * _drift(rng, n, fps, periods=(7.7, 4.1, 2.3)) * calm + 2.8 * _nods(emphasis, fps))
        roll = k * 2.0 * _drift(rng, n, fps, periods=(11.0, 6.1))
        arrays["yaw"] = yaw
        arrays["pitch"] = pitch + emotion.get("pitch", 0.0)
        arrays["roll"] = roll
        arrays["tx"] = 0.35 * yaw + k * 1.5 * _drift(rng, n, fps, periods=(13.0, 8.0))
        arrays["ty"] = 0.25 * pitch
        arrays["scale"] = 1.0 + k * 0.008 * _drift(rng, n, fps, periods=(10.0,))
    elif "pitch" in emotion:
        arrays["pitch"] = np.full(n, emotion["pitch"])
    return MotionTrack({name: np.asarray(v, np.float32) for name, v in arrays.items()}, fps=fps)


def speech_like(loudness: np.ndarray, *, fps: float = 25.0) -> SpeechTrack:
    """A minimal speech track from a loudness curve alone (tests, docs and silent clips)."""
    loud = np.asarray(loudness, np.float32)
    zero = np.zeros_like(loud)
    return SpeechTrack(
        fps=fps, n_frames=len(loud), loudness=loud, voiced=(loud > 0.1).astype(np.float32), pitch=zero,
        jaw_open=0.8 * loud, lip_width=zero, lip_press=zero, lip_tuck=zero, teeth=0.5 * loud, tongue=zero,
    )


# --- building blocks --------------------------------------------------------------------------


def _smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Gaussian low-pass with edge padding (no phase shift)."""
    if sigma_frames <= 0.5 or len(x) < 2:
        return np.asarray(x, np.float32)
    radius = int(3 * sigma_frames)
    t = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (t / sigma_frames) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(np.asarray(x, np.float64), radius, mode="edge")
    return np.convolve(padded, kernel, mode="valid").astype(np.float32)


def _drift(rng: np.random.Generator, n: int, fps: float, *, periods: tuple[float, ...]) -> np.ndarray:
    """Smooth, non-repeating motion in about [-1, 1]: sinusoids of jittered, incommensurate periods."""
    t = np.arange(n) / fps
    out = np.zeros(n)
    for base in periods:
        period = base * rng.uniform(0.8, 1.25)
        # a slowly wandering frequency keeps the sum from ever repeating
        wobble = 0.15 * np.sin(2 * np.pi * t / (period * 3.7) + rng.uniform(0, 2 * np.pi))
        out += np.sin(2 * np.pi * t / period * (1 + wobble) + rng.uniform(0, 2 * np.pi))
    return (out / np.sqrt(len(periods))).astype(np.float32)


def _emphasis(loudness: np.ndarray, pitch: np.ndarray, *, fps: float) -> np.ndarray:
    """0–1 pulses where speech gets louder quickly or the pitch peaks (stressed syllables)."""
    onset = np.clip(np.diff(_smooth(loudness, fps * 0.04), prepend=loudness[:1]) * fps / 6.0, 0, 1)
    high_pitch = np.clip(pitch / 4.0, 0, 1) * (loudness > 0.2)
    return np.clip(_smooth(np.maximum(onset, 0.6 * high_pitch), fps * 0.06) * 2.0, 0, 1)


def _nods(emphasis: np.ndarray, fps: float) -> np.ndarray:
    """A nod per stress: down quickly, back up more slowly (a damped response to the pulses)."""
    t = np.arange(int(0.8 * fps)) / fps
    response = np.sin(2 * np.pi * t / 0.8) * np.exp(-t / 0.25)
    return np.convolve(emphasis, response, mode="full")[: len(emphasis)].astype(np.float32) / max(
        1.0, float(np.sum(np.abs(response))) / 3.0
    )


def _blinks(rng: np.random.Generator, n: int, fps: float, *, pauses: np.ndarray) -> np.ndarray:
    """Eyelid closure 0–1 per frame: renewal process, more likely in pauses; close fast, open slowly."""
    out = np.zeros(n, np.float32)
    rate = BLINKS_PER_MINUTE / 60.0
    refractory = 0.8
    t = rng.uniform(0.3, 2.5)
    close, hold, reopen = 0.07, 0.04, 0.14  # seconds
    while t < n / fps:
        start = int(t * fps)
        shape_t = (np.arange(int((close + hold + reopen) * fps) + 2)) / fps
        closure = np.where(
            shape_t < close, shape_t / close,
            np.where(shape_t < close + hold, 1.0, np.clip(1 - (shape_t - close - hold) / reopen, 0, 1)),
        )
        end = min(n, start + len(closure))
        out[start:end] = np.maximum(out[start:end], closure[: end - start])
        # next blink: exponential wait, sooner in pauses
        boost = 1.0 + 1.5 * float(pauses[min(start, n - 1)])
        t += refractory + rng.exponential(1.0 / (rate * boost)) * 0.75
    return out


def _gaze(rng: np.random.Generator, n: int, fps: float, *, mode: str, talking: np.ndarray,
          k: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaze offsets: micro-saccades around the camera, or held targets that wander ("free")."""
    gx = np.zeros(n, np.float32)
    gy = np.zeros(n, np.float32)
    t = 0
    while t < n:
        hold = int(fps * (rng.uniform(0.6, 1.6) if mode == "camera" else rng.uniform(0.8, 2.8)))
        if mode == "camera":
            target = rng.normal(0, 0.04, 2)
        else:
            # look away more at phrase starts, come back to the listener while talking
            away = 0.45 if talking[t] < 0.5 else 0.25
            target = rng.normal(0, [away, away * 0.5])
        gx[t:t + hold], gy[t:t + hold] = target[0], target[1]
        t += max(hold, 1)
    # saccades are fast but not instantaneous: ~2 frames
    return np.clip(k * _smooth(gx, 0.8), -1, 1), np.clip(k * _smooth(gy, 0.8), -1, 1)
