"""Live sessions of the default backend: the look-ahead bound, chunking invariance, the tail, refusals, and lip
closures from the first second (the session's own cepstral mean, closures the recogniser drops)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import generator.live
from generator import Controls, GeneratorError, LiveSession, get_generator
from generator.motion import LiveMotion
from generator.pose import FramePose
from generator.speech import SpeechStream, _samples_16k, analyse_speech
from media import read_audio
from speech import Timed, synthesise_speech
from speech.phones import new_recogniser
from speech.prosody import acoustic_features
from speech.stream import FeatureStream, PhoneStream

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


def _cmn(decoder) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.array([float(v) for v in decoder.get_cmn(False).split(",")])


def test_the_phone_stream_normalises_with_the_sessions_own_cepstral_mean(samples, monkeypatch):
    """With no prior the recogniser's mean after 2 s is that of the 2 s (what a whole-clip decode uses), however the
    audio was chunked and with digital silence first (which pocketsphinx leaves out); pocketsphinx's own live
    mean is still near its generic prior then, far from it."""
    x = np.concatenate([np.zeros(1_000, np.float32), samples])
    whole = new_recogniser()
    whole.start_utt()
    whole.process_raw((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes(), full_utt=True)
    whole.end_utt()
    expected = _cmn(whole)
    monkeypatch.setattr(PhoneStream, "PRIOR_FRAMES", 0)
    for chunk in (777, 16_000):
        stream = PhoneStream()
        for i in range(0, len(x), chunk):
            stream.push(x[i : i + chunk])
        np.testing.assert_allclose(_cmn(stream._decoder), expected, atol=0.5)
    monkeypatch.setattr(PhoneStream, "ADAPT_S", 0.0)  # as before: pocketsphinx's own live mean
    cold = PhoneStream()
    cold.push(x)
    assert np.abs(_cmn(cold._decoder) - expected).max() > 5.0


def test_a_closure_the_recogniser_drops_from_its_path_is_kept_until_its_frames_are_out():
    stream = SpeechStream(fps=FPS, lookahead_s=0.12)
    b = Timed("B", 0.50, 0.58)
    assert stream._recall([Timed("AA", 0.30, 0.50), b], since_s=0.40) == []
    assert stream._recall([Timed("AA", 0.30, 0.50), Timed("D", 0.50, 0.60)], since_s=0.44) == [b]
    assert stream._recall([Timed("AA", 0.30, 0.50), Timed("D", 0.50, 0.64)], since_s=0.48) == [b]
    assert stream._recall([Timed("P", 0.49, 0.57)], since_s=0.52) == []  # the path has a closure there again
    assert stream._recall([Timed("AA", 0.49, 0.70)], since_s=0.56) == [Timed("P", 0.49, 0.57)]
    assert stream._recall([Timed("AA", 0.49, 0.70)], since_s=0.60) == []  # its frames are out


@pytest.mark.parametrize(("text", "at_least", "in_first_second"), [
    ("Please pass the bread, mom.", 3, 2),  # before the session's own mean: 1 of 5, 1 in the first second
    ("Bob bought my mom a big blue pumpkin pie.", 6, 3),
])
def test_a_live_session_closes_the_lips_at_bilabials_from_its_first_second(rig_session, tmp_path, monkeypatch, text,
                                                                         at_least, in_first_second):
    """The poses the renderer gets close the lips (pressed, jaw nearly shut) within a frame of the P/B/M of the
    transcript's forced alignment (offline: where they are), from the first second on, and not all along."""
    audio = read_audio(synthesise_speech(text, dest=tmp_path / "speech.wav"))
    reference = analyse_speech(audio, fps=FPS, transcript=text)
    assert reference.source == "alignment"
    centres = [(p.start_s + p.end_s) / 2 for p in reference.phones if p.label in {"P", "B", "M"}]
    poses: list[FramePose] = []

    def render(rig, pose: FramePose) -> np.ndarray:  # type: ignore[no-untyped-def]
        poses.append(pose)
        return np.zeros((1, 1, 3), np.uint8)

    monkeypatch.setattr(generator.live, "render_frame", render)
    session = rig_session()
    x = _samples_16k(audio)
    for i in range(0, len(x), 320):
        session.feed(x[i : i + 320])
    session.finish()
    press = np.array([p.lip_press for p in poses])
    jaw = np.array([p.jaw_open for p in poses])
    closed = [bool(np.any((press[max(0, k - 1) : k + 2] >= 0.5) & (jaw[max(0, k - 1) : k + 2] < 0.1)))
              for k in (int(t * FPS) for t in centres)]
    assert sum(closed) >= at_least, (closed, centres)
    assert sum(c for c, t in zip(closed, centres, strict=True) if t < 1.0) >= in_first_second, (closed, centres)
    assert np.mean(press >= 0.5) < 0.3
