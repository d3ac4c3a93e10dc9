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
    drives = _drives(loud, np.asarray(speech.voiced, np.float32), np.asarray(speech.pitch, np.float32), fps=fps)
    t = np.arange(n) / fps
    drifts = {"smile": _drift_at(_drift_params(rng, (7.0, 11.0)), t),
              "brow": _drift_at(_drift_params(rng, (5.0, 9.0)), t)}
    blinker = _Blinker(rng, fps)
    pauses = 1.0 - drives["talking"]
    blink = np.array([blinker.step(i, pause=float(pauses[i])) for i in range(n)], np.float32)
    asymmetry = 1.0 + 0.05 * rng.standard_normal()
    gazer = _Gazer(rng, fps, mode=controls.gaze)
    gaze = np.array([gazer.step(i, talking=float(drives["talking"][i])) for i in range(n)], np.float32).reshape(n, 2)
    if not controls.still_head:
        drifts |= {name: _drift_at(_drift_params(rng, periods), t) for name, periods in _HEAD_DRIFTS}
    arrays = _compose(speech_values(speech), drives, drifts, blink=blink, asymmetry=asymmetry,
                      gaze=(_gaze_smooth(gaze[:, 0]), _gaze_smooth(gaze[:, 1])), controls=controls, n=n)
    return MotionTrack({name: np.asarray(v, np.float32) for name, v in arrays.items()}, fps=fps)


_HEAD_DRIFTS = (("yaw", (9.0, 5.3, 3.1)), ("pitch", (7.7, 4.1, 2.3)), ("roll", (11.0, 6.1)), ("tx", (13.0, 8.0)),
                ("scale", (10.0,)))
_MOUTH = ("jaw_open", "lip_width", "lip_press", "lip_tuck", "teeth", "tongue")


def speech_values(speech: SpeechTrack) -> dict[str, np.ndarray]:
    """The speech track's mouth parameters, by name."""
    return {name: np.asarray(getattr(speech, name), np.float32) for name in _MOUTH}


def _drives(loud: np.ndarray, voiced: np.ndarray, pitch: np.ndarray, *, fps: float) -> dict[str, np.ndarray]:
    """What the speech drives: talking (0–1, smoothed over ~0.4 s), emphasis pulses, their slow part, nods."""
    emphasis = _emphasis(loud, pitch, fps=fps)
    return {"talking": _smooth(voiced * (loud > 0.1), fps * 0.4), "emphasis": emphasis,
            "emphasis_slow": _smooth(emphasis, fps * 0.3), "nods": _nods(emphasis, fps)}


def _compose(mouth: dict[str, np.ndarray], drives: dict[str, np.ndarray], drifts: dict[str, np.ndarray], *,
             blink: np.ndarray, asymmetry: float, gaze: tuple[np.ndarray, np.ndarray], controls: Controls,
             n: int) -> dict[str, Any]:
    """Per-frame pose arrays from the speech's mouth, its drives, the drifts, blinks and gaze (offline and live)."""
    emotion = EMOTIONS[controls.emotion]
    k = controls.intensity
    arrays: dict[str, Any] = dict(mouth)
    arrays["jaw_open"] = np.clip(mouth["jaw_open"] + emotion.get("jaw_open", 0.0), 0, 1)
    emphasis = drives["emphasis"]
    arrays["smile"] = np.clip(emotion.get("smile", 0.0) + 0.08 * k * drifts["smile"], -1, 1)
    arrays["brow_raise"] = np.clip(
        emotion.get("brow_raise", 0.0) + k * (0.45 * emphasis + 0.05 * drifts["brow"]), -1, 1
    )
    arrays["blink_left"] = blink
    arrays["blink_right"] = np.clip(blink * asymmetry, 0, 1)
    arrays["gaze_x"] = np.clip(k * gaze[0], -1, 1)
    arrays["gaze_y"] = np.clip(k * gaze[1], -1, 1)
    if not controls.still_head:
        calm = 0.55 + 0.45 * drives["talking"]  # pauses calm the head
        yaw = k * (4.5 * drifts["yaw"] * calm + 1.6 * drives["emphasis_slow"])
        pitch = k * (2.4 * drifts["pitch"] * calm + 2.8 * drives["nods"])
        arrays["yaw"] = yaw
        arrays["pitch"] = pitch + emotion.get("pitch", 0.0)
        arrays["roll"] = k * 2.0 * drifts["roll"]
        arrays["tx"] = 0.35 * yaw + k * 1.5 * drifts["tx"]
        arrays["ty"] = 0.25 * pitch
        arrays["scale"] = 1.0 + k * 0.008 * drifts["scale"]
    elif "pitch" in emotion:
        arrays["pitch"] = np.full(n, emotion["pitch"])
    return arrays


class LiveMotion:
    """The same motion, generated causally one frame at a time (a live session's).

    Frame ``k`` depends on the speech frames up to ``k`` only (:meth:`pose` gets their recent
    history): what needs smoothing over time is smoothed over that history, the drifts are closed-form
    in time, and blinks and gaze shifts are drawn as their frames come (each from its own random
    stream, so ``seed`` repeats a session exactly, though not the offline clip of the same seed).
    Emphasis (brows, nods, turns) follows the speech ``SETTLE`` frames late, the slow drives a little more.
    """

    HISTORY = 64  # speech frames kept: talking's smoothing (3 σ = 1.2 s) and a nod (0.8 s) at 25 fps
    SETTLE = 3  # frames back at which the emphasis pulses are read (120 ms at 25 fps)

    def __init__(self, *, controls: Controls, fps: float) -> None:
        self.controls, self.fps = controls, float(fps)
        main, blinks, gaze = (np.random.default_rng(s) for s in np.random.SeedSequence(controls.seed).spawn(3))
        self._drifts = {"smile": _drift_params(main, (7.0, 11.0)), "brow": _drift_params(main, (5.0, 9.0))}
        self._asymmetry = 1.0 + 0.05 * main.standard_normal()
        if not controls.still_head:
            self._drifts |= {name: _drift_params(main, periods) for name, periods in _HEAD_DRIFTS}
        self._blinker = _Blinker(blinks, self.fps)
        self._gazer = _Gazer(gaze, self.fps, mode=controls.gaze)
        self._gaze: list[tuple[float, float]] = []
        self._history: dict[str, list[float]] = {name: [] for name in ("loudness", "voiced", "pitch")}
        self.frame = 0

    def _drives(self, hist: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """:func:`_drives` at the newest frame from the history alone. The emphasis pulses are read
        :data:`SETTLE` frames back, where their short kernels (~7 frames) see both sides; the slow
        drives (talking, the slow emphasis) are smoothed over the past only (a one-sided kernel of the same
        σ, :func:`_past_smooth`): a symmetric kernel cut at the newest frame would follow every frame's noise."""
        fps = self.fps
        emphasis = _emphasis(hist["loudness"], hist["pitch"], fps=fps)[: max(1, len(hist["loudness"]) - self.SETTLE)]
        loud_voiced = hist["voiced"] * (hist["loudness"] > 0.1)
        return {"talking": _past_smooth(loud_voiced, fps * 0.4), "emphasis": emphasis[-1:],
                "emphasis_slow": _past_smooth(emphasis, fps * 0.3), "nods": _nods(emphasis, fps)[-1:]}

    def pose(self, speech: dict[str, float]) -> FramePose:
        """The pose of the next frame, from its speech values (``loudness``, ``voiced``, ``pitch`` and the mouth's)."""
        for name, values in self._history.items():
            values.append(float(speech[name]))
            del values[: -self.HISTORY]
        hist = {name: np.asarray(values, np.float32) for name, values in self._history.items()}
        drives = self._drives(hist)
        talking = float(drives["talking"][0])
        blink = self._blinker.step(self.frame, pause=1.0 - talking)
        self._gaze.append(self._gazer.step(self.frame, talking=talking))
        del self._gaze[:-8]
        gaze = np.asarray(self._gaze, np.float32)
        t = np.array([self.frame / self.fps])
        drifts = {name: _drift_at(params, t) for name, params in self._drifts.items()}
        mouth = {name: np.array([speech[name]], np.float32) for name in _MOUTH}
        arrays = _compose(mouth, drives, drifts, blink=np.array([blink], np.float32), asymmetry=self._asymmetry,
                          gaze=(_gaze_smooth(gaze[:, 0])[-1:], _gaze_smooth(gaze[:, 1])[-1:]),
                          controls=self.controls, n=1)
        self.frame += 1
        defaults = FramePose()
        return FramePose(**{name: float(np.asarray(arrays[name]).reshape(-1)[0]) if name in arrays
                            else getattr(defaults, name) for name in _FIELDS})


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


def _past_smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    """The newest value of ``x`` low-passed over its past only: weights ``lag · exp(-lag² / 2σ²)`` (σ in frames),
    normalised; zero weight on the newest frame keeps the output smooth (it lags by about σ)."""
    x = np.asarray(x, np.float32)
    lags = np.arange(min(len(x), int(3 * sigma_frames) + 1))
    if len(lags) < 2:
        return x[-1:]
    weights = (lags + 0.5) * np.exp(-0.5 * (lags / max(sigma_frames, 1e-6)) ** 2)
    return np.array([float(np.dot(weights, x[::-1][: len(lags)]) / weights.sum())], np.float32)


def _drift_params(rng: np.random.Generator, periods: tuple[float, ...]) -> list[tuple[float, float, float]]:
    """(period, wobble phase, phase) per base period: jittered, incommensurate periods and random phases."""
    params = []
    for base in periods:
        period = base * rng.uniform(0.8, 1.25)
        wobble_phase = rng.uniform(0, 2 * np.pi)
        params.append((period, wobble_phase, rng.uniform(0, 2 * np.pi)))
    return params


def _drift_at(params: list[tuple[float, float, float]], t: np.ndarray) -> np.ndarray:
    """Smooth, non-repeating motion in about [-1, 1] at times ``t`` (seconds): a sum of sinusoids."""
    out = np.zeros(len(t))
    for period, wobble_phase, phase in params:
        # a slowly wandering frequency keeps the sum from ever repeating
        wobble = 0.15 * np.sin(2 * np.pi * t / (period * 3.7) + wobble_phase)
        out += np.sin(2 * np.pi * t / period * (1 + wobble) + phase)
    return (out / np.sqrt(len(params))).astype(np.float32)


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


class _Blinker:
    """Eyelid closure 0–1 frame by frame: a renewal process, more likely in pauses; close fast, open slowly."""

    REFRACTORY = 0.8
    CLOSE, HOLD, REOPEN = 0.07, 0.04, 0.14  # seconds

    def __init__(self, rng: np.random.Generator, fps: float) -> None:
        self.rng, self.fps = rng, fps
        self.next_t = rng.uniform(0.3, 2.5)
        shape_t = np.arange(int((self.CLOSE + self.HOLD + self.REOPEN) * fps) + 2) / fps
        self.shape = np.where(
            shape_t < self.CLOSE, shape_t / self.CLOSE,
            np.where(shape_t < self.CLOSE + self.HOLD, 1.0,
                     np.clip(1 - (shape_t - self.CLOSE - self.HOLD) / self.REOPEN, 0, 1)),
        ).astype(np.float32)
        self.starts: list[int] = []

    def step(self, frame: int, *, pause: float) -> float:
        """Closure at ``frame`` (called for frames 0, 1, 2, …); ``pause`` (0–1) there makes the next blink sooner."""
        while int(self.next_t * self.fps) <= frame:
            self.starts.append(int(self.next_t * self.fps))
            boost = 1.0 + 1.5 * pause  # next blink: exponential wait, sooner in pauses
            self.next_t += self.REFRACTORY + self.rng.exponential(1.0 / (BLINKS_PER_MINUTE / 60.0 * boost)) * 0.75
        self.starts = [s for s in self.starts if frame - s < len(self.shape)]
        return max((float(self.shape[frame - s]) for s in self.starts), default=0.0)


class _Gazer:
    """Gaze targets frame by frame: micro-saccades around the camera, or held targets that wander ("free")."""

    def __init__(self, rng: np.random.Generator, fps: float, *, mode: str) -> None:
        self.rng, self.fps, self.mode = rng, fps, mode
        self.change = 0
        self.target = (0.0, 0.0)

    def step(self, frame: int, *, talking: float) -> tuple[float, float]:
        if frame >= self.change:
            rng = self.rng
            hold = int(self.fps * (rng.uniform(0.6, 1.6) if self.mode == "camera" else rng.uniform(0.8, 2.8)))
            if self.mode == "camera":
                target = rng.normal(0, 0.04, 2)
            else:  # look away more at phrase starts, come back to the listener while talking
                away = 0.45 if talking < 0.5 else 0.25
                target = rng.normal(0, [away, away * 0.5])
            self.target = (float(target[0]), float(target[1]))
            self.change = frame + max(hold, 1)
        return self.target


def _gaze_smooth(x: np.ndarray) -> np.ndarray:
    """Saccades are fast but not instantaneous: ~2 frames."""
    return _smooth(x, 0.8)
