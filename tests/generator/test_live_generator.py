"""Live sessions of the default backend: the look-ahead bound, chunking invariance, the tail, refusals."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from generator import Controls, GeneratorError, LiveSession, get_generator
from generator.motion import LiveMotion
from generator.speech import SpeechStream, _samples_16k
from speech.prosody import acoustic_features
from speech.stream import FeatureStream

FPS = 25.0


@pytest.fixture(scope="module")
def samples(speech) -> np.ndarray:  # type: ignore[no-untyped-def]
    return _samples_16k(speech)[:32_000]  # 2 s of the espeak-ng sentence


@pytest.fixture(scope="module")
def rig_session(portrait):  # type: ignore[no-untyped-def]
    def session(**kwargs) -> LiveSession:  # type: ignore[no-untyped-def]
        return get_generator("default").live(portrait, controls=Controls(seed=3), **kwargs)

    return session


def _speech_frames(x: np.ndarray, *, chunk: int, lookahead_s: float = 0.12, finish: bool = True) -> list[dict]:
    stream = SpeechStream(fps=FPS, lookahead_s=lookahead_s)
    out = []
    for i in range(0, len(x), chunk):
        out += stream.push(x[i : i + chunk])
    return out + (stream.finish() if finish else [])


def test_the_feature_stream_is_the_whole_clip_analysis_whatever_the_chunks(samples):
    whole = acoustic_features(samples)
    for chunk in (16, 320, 16_000):
        stream = FeatureStream()
        for i in range(0, len(samples), chunk):
            stream.push(samples[i : i + chunk])
        stream.finish()
        got = stream.features(start=0, stop=stream.ready)
        for name in ("db", "loudness", "f0", "voiced", "f1_centroid"):
            np.testing.assert_array_equal(getattr(got, name), getattr(whole, name))


def test_speech_frames_do_not_depend_on_the_chunking(samples):
    reference = _speech_frames(samples, chunk=320)
    assert len(reference) == 50
    for chunk in (16, 16_000):  # 1 ms and 1 s
        assert _speech_frames(samples, chunk=chunk) == reference


def test_a_frame_depends_only_on_audio_before_its_horizon(samples):
    """Two continuations after 1 s: every frame whose horizon (k / fps + look-ahead) lies within the
    common second is identical; later ones are not all identical (the bound is not vacuous)."""
    rng = np.random.default_rng(0)
    noise = (0.3 * rng.standard_normal(16_000)).astype(np.float32)
    a = np.concatenate([samples[:16_000], samples[16_000:32_000]])
    b = np.concatenate([samples[:16_000], noise])
    fa, fb = _speech_frames(a, chunk=320), _speech_frames(b, chunk=320)
    fixed = int(np.floor((1.0 - 0.12) * FPS)) + 1  # frames 0 … 22: horizon ≤ 1.0 s
    assert fa[:fixed] == fb[:fixed]
    assert fa[fixed:] != fb[fixed:]


def test_rendered_frames_obey_the_bound_and_the_chunking(rig_session, samples):
    x = samples[:16_000]  # 1 s
    rng = np.random.default_rng(1)
    tails = [np.zeros(8_000, np.float32), (0.4 * rng.standard_normal(8_000)).astype(np.float32)]
    outputs = []
    for tail, chunk in zip(tails, (320, 16_000), strict=True):
        session = rig_session()
        frames = []
        audio = np.concatenate([x, tail])
        for i in range(0, len(audio), chunk):
            frames += session.feed(audio[i : i + chunk])
        outputs.append(frames + session.finish())
    fixed = int(np.floor((1.0 - 0.12) * FPS)) + 1
    assert len(outputs[0]) == len(outputs[1]) == 38  # 1.5 s × 25 fps
    for k in range(fixed):
        np.testing.assert_array_equal(outputs[0][k], outputs[1][k])
    assert outputs[0][0].shape == (512, 512, 3) and outputs[0][0].dtype == np.uint8


def test_the_first_frame_comes_before_the_audio_ends_and_finish_emits_every_frame(rig_session, samples):
    session = rig_session()
    first_at = None
    count = 0
    for i in range(0, len(samples), 320):
        count += len(session.feed(samples[i : i + 320]))
        if count and first_at is None:
            first_at = i + 320
    assert first_at is not None and first_at <= 0.12 * 16_000 + 320
    count += len(session.finish())
    assert count == session.frames_out == 50  # 2 s × 25 fps
    assert session.finish() == []


def test_pcm_bytes_and_int16_give_the_same_frames_as_floats(rig_session, samples):
    pcm = (np.clip(samples[:8_000], -1, 1) * 32767).astype(np.int16)
    as_float = pcm.astype(np.float32) / 32768.0
    frames = []
    for audio in (as_float, pcm, pcm.astype("<i2").tobytes()):
        session = rig_session()
        frames.append(session.feed(audio) + session.finish())
    for other in frames[1:]:
        assert len(other) == len(frames[0]) == 13
        np.testing.assert_array_equal(other[-1], frames[0][-1])


def test_live_motion_is_causal_and_repeatable():
    speech = {"loudness": 0.5, "voiced": 1.0, "pitch": 0.0, "jaw_open": 0.3, "lip_width": 0.0, "lip_press": 0.0,
              "lip_tuck": 0.0, "teeth": 0.3, "tongue": 0.0}
    one, two = LiveMotion(controls=Controls(seed=5), fps=FPS), LiveMotion(controls=Controls(seed=5), fps=FPS)
    poses = [one.pose(speech) for _ in range(300)]
    assert poses == [two.pose(speech) for _ in range(300)]
    blinks = np.array([p.blink_left for p in poses])
    assert 1 <= int(np.sum(np.diff((blinks > 0.5).astype(int)) == 1)) <= 8  # 12 s at ~17 a minute


@pytest.mark.parametrize(
    ("audio", "kwargs", "message"),
    [
        (np.zeros(320, np.int32), {}, "int16"),
        (np.full(320, np.nan, np.float32), {}, "NaN"),
        (np.zeros(320, np.float32), {"sample_rate": 48_000}, "16000 Hz"),
        (np.zeros((320, 2), np.float32), {}, "mono"),
        ([0.0] * 320, {}, "NumPy array or PCM bytes"),
        (b"\x00" * 3, {}, "odd number of bytes"),
    ],
)
def test_bad_audio_is_refused_with_a_reason(rig_session, audio, kwargs, message):
    session = rig_session()
    with pytest.raises(GeneratorError, match=message):
        session.feed(audio, **kwargs)


def test_limits_and_misuse_are_refused(rig_session, portrait):
    session = rig_session(max_seconds=1.0)
    session.feed(np.zeros(16_000, np.float32))
    with pytest.raises(GeneratorError, match="at most 1 s"):
        session.feed(np.zeros(16, np.float32))
    session.finish()
    with pytest.raises(GeneratorError, match="finished"):
        session.feed(np.zeros(16, np.float32))
    with pytest.raises(GeneratorError, match="look-ahead"):
        rig_session(lookahead_s=0.02)
    with pytest.raises(GeneratorError, match="look-ahead"):
        rig_session(lookahead_s=float("nan"))


def test_the_learned_backend_says_it_has_no_live_mode(portrait):
    from generator.learned.backend import LearnedGenerator

    with pytest.raises(GeneratorError, match="no live mode"):
        LearnedGenerator.live(object.__new__(LearnedGenerator), portrait)  # type: ignore[arg-type]


def test_phone_recognition_closes_utterances_so_long_sessions_stay_bounded(samples, monkeypatch):
    from speech.stream import PhoneStream

    monkeypatch.setattr(PhoneStream, "MAX_UTTERANCE_S", 1.0)
    stream = PhoneStream()
    for i in range(0, len(samples), 640):
        stream.push(samples[i : i + 640])
    assert stream._utt_start > 0  # a new utterance began after 1 s
    stream.finish()
    phones = stream.phones()
    assert phones and phones[-1].end_s <= len(samples) / 16_000 + 0.01
    assert all(a.end_s <= b.start_s + 1e-6 for a, b in itertools.pairwise(phones))
    assert {p.label for p in phones} - {"SIL"}
