"""Rule-based motion: blinks, head motion, gaze, emotion and the user's controls."""

from __future__ import annotations

import numpy as np
import pytest

from generator.errors import GeneratorError
from generator.motion import Controls, plan_motion, speech_like

FPS = 25.0


def talking(seconds: float, *, seed: int = 0) -> np.ndarray:
    """A loudness curve like speech: syllables at ~4 Hz in phrases of 2–4 s with pauses."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FPS)
    t = np.arange(n) / FPS
    phrase = np.zeros(n)
    start = 0.3
    while start < seconds:
        length = rng.uniform(2, 4)
        phrase[(t >= start) & (t < start + length)] = 1
        start += length + rng.uniform(0.4, 1.2)
    syllables = np.clip(np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6)), 0, 1)
    return (phrase * (0.3 + 0.7 * syllables)).astype(np.float32)


def blink_events(closure: np.ndarray) -> list[tuple[int, int]]:
    closed = closure > 0.5
    starts = np.flatnonzero(closed[1:] & ~closed[:-1]) + 1
    ends = np.flatnonzero(~closed[1:] & closed[:-1]) + 1
    return list(zip(starts, ends, strict=False))


def test_one_pose_per_frame_and_mouth_from_speech():
    speech = speech_like(talking(10))
    track = plan_motion(speech, controls=Controls(seed=1))
    assert len(track) == speech.n_frames == 250
    assert np.allclose(track.arrays["jaw_open"], speech.jaw_open)
    assert track[10].jaw_open == pytest.approx(float(speech.jaw_open[10]))
    with pytest.raises(IndexError):
        track[250]


def test_same_seed_same_motion_other_seed_other_motion():
    speech = speech_like(talking(10))
    a = plan_motion(speech, controls=Controls(seed=5)).arrays
    b = plan_motion(speech, controls=Controls(seed=5)).arrays
    c = plan_motion(speech, controls=Controls(seed=6)).arrays
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.allclose(a["yaw"], c["yaw"])


def test_blinks_at_a_natural_rate_and_shape():
    track = plan_motion(speech_like(talking(120)), controls=Controls(seed=2))
    closure = track.arrays["blink_left"]
    events = blink_events(closure)
    per_minute = len(events) / 2
    assert 10 <= per_minute <= 30, per_minute
    durations = [(end - start) / FPS for start, end in events]
    assert all(0.04 <= d <= 0.4 for d in durations), durations
    assert closure.max() == pytest.approx(1.0)
    gaps = np.diff([start for start, _ in events]) / FPS
    assert gaps.min() >= 0.8  # refractory


def test_head_motion_is_smooth_and_does_not_repeat():
    yaw = plan_motion(speech_like(talking(60)), controls=Controls(seed=3)).arrays["yaw"]
    assert 0.5 < yaw.std() < 6.0
    assert np.abs(np.diff(yaw)).max() < 1.5  # degrees per frame: no jumps
    for lag_s in (2, 5, 10, 20, 30):
        lag = int(lag_s * FPS)
        r = np.corrcoef(yaw[:-lag], yaw[lag:])[0, 1]
        assert r < 0.9, (lag_s, r)


def test_still_head_and_intensity():
    speech = speech_like(talking(20))
    still = plan_motion(speech, controls=Controls(seed=4, still_head=True)).arrays
    for key in ("yaw", "pitch", "roll", "tx", "ty"):
        assert np.all(still[key] == 0), key
    assert np.all(still["scale"] == 1)
    calm = plan_motion(speech, controls=Controls(seed=4, intensity=0.0)).arrays
    lively = plan_motion(speech, controls=Controls(seed=4, intensity=2.0)).arrays
    normal = plan_motion(speech, controls=Controls(seed=4)).arrays
    assert calm["yaw"].std() == 0 and calm["brow_raise"].std() == 0
    assert lively["yaw"].std() > 1.5 * normal["yaw"].std()
    assert still["blink_left"].max() == 1.0  # the eyes still blink


@pytest.mark.parametrize(
    ("emotion", "key", "low", "high"),
    [("happy", "smile", 0.4, 1.0), ("sad", "smile", -1.0, -0.3), ("surprised", "brow_raise", 0.6, 1.0),
     ("angry", "brow_raise", -1.0, -0.4), ("neutral", "smile", -0.15, 0.15)],
)
def test_emotion_offsets(emotion, key, low, high):
    track = plan_motion(speech_like(talking(10)), controls=Controls(seed=1, emotion=emotion))
    assert low <= float(np.median(track.arrays[key])) <= high


def test_gaze_modes():
    speech = speech_like(talking(60))
    camera = plan_motion(speech, controls=Controls(seed=8, gaze="camera")).arrays
    free = plan_motion(speech, controls=Controls(seed=8, gaze="free")).arrays
    assert np.abs(camera["gaze_x"]).max() < 0.2
    assert free["gaze_x"].std() > 2 * camera["gaze_x"].std()
    assert np.abs(free["gaze_x"]).max() <= 1.0


def test_brows_rise_with_emphasis():
    loud = talking(30)
    track = plan_motion(speech_like(loud), controls=Controls(seed=9, still_head=True))
    brow = track.arrays["brow_raise"]
    speaking = loud > 0.2
    assert brow[speaking].mean() > brow[~speaking].mean() + 0.05


@pytest.mark.parametrize(
    "kwargs",
    [{"intensity": 3.0}, {"gaze": "left"}, {"emotion": "bored"}, {"zoom": 2.0}],
)
def test_controls_are_validated(kwargs):
    with pytest.raises(GeneratorError):
        Controls(**kwargs)
