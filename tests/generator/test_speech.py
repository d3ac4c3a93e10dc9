"""generator.speech: phones, visemes with co-articulation, loudness and pitch per video frame.

Speech is made at test time with espeak-ng (scripts/setup installs it; without it these tests fail);
the shared recordings in ../shared/data/speech are used when present.
"""

from __future__ import annotations

import doctest
import importlib
import math
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from generator._visemes import mouth_from_phones
from generator.errors import GeneratorError, SpeechError
from generator.speech import Phone, SpeechTrack, analyse_speech
from likeness.errors import LikenessError
from media import Audio, read_audio
from speech.phones import Timed

SENTENCE = "Bob met a very famous person at the movie theatre."
LABIALS = "Big bad bears bumped maybe both brown boxes by the pub."
LABIODENTALS = "Five wives fly vivid kites over the valley of fine vines."
ARRAYS = ("loudness", "voiced", "pitch", "jaw_open", "lip_width", "lip_press", "lip_tuck", "teeth", "tongue")
RANGES = {"lip_width": (-1.0, 1.0), "pitch": (-48.0, 48.0)}

Speak = Callable[..., Audio]


@pytest.fixture(scope="module")
def speak(tmp_path_factory: pytest.TempPathFactory) -> Speak:
    """``speak(text, pad_s=0.0, gain=1.0)``: espeak-ng's US-English voice as an Audio (cached per text)."""
    assert shutil.which("espeak-ng"), "espeak-ng is not installed (scripts/setup installs it)"
    folder = tmp_path_factory.mktemp("speech")
    cache: dict[str, Audio] = {}

    def _speak(text: str, *, pad_s: float = 0.0, gain: float = 1.0) -> Audio:
        if text not in cache:
            path = folder / f"{len(cache)}.wav"
            subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True, capture_output=True)
            cache[text] = read_audio(path)
        audio = cache[text]
        pad = np.zeros((audio.channels, round(pad_s * audio.sample_rate)), np.float32)
        return Audio(samples=np.concatenate([pad, audio.samples * gain, pad], axis=1), sample_rate=audio.sample_rate)

    return _speak


def _pronunciations() -> dict[str, list[list[str]]]:
    import pocketsphinx

    path = os.path.join(pocketsphinx.get_model_path(), "en-us", "cmudict-en-us.dict")
    found: dict[str, list[list[str]]] = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            word, *phones = line.split()
            found.setdefault(word.split("(")[0], []).append(phones)
    return found


def _spells(labels: list[str], words: list[str], lexicon: dict[str, list[list[str]]]) -> bool:
    """Whether ``labels`` is the words' pronunciations in order (any listed variant of each)."""
    ends = {0}
    for word in words:
        ends = {end + len(p) for end in ends for p in lexicon[word] if labels[end : end + len(p)] == p}
    return len(labels) in ends


def _frames_within(track: SpeechTrack, start_s: float, end_s: float) -> slice:
    """The video frames whose time span overlaps [start_s, end_s)."""
    first = math.floor(start_s * track.fps + 1e-6)
    last = math.ceil(end_s * track.fps - 1e-6)
    return slice(first, max(first + 1, last))


def _check_shape(track: SpeechTrack) -> None:
    for name in ARRAYS:
        values = getattr(track, name)
        assert values.shape == (track.n_frames,) and values.dtype == np.float32, name
        assert np.isfinite(values).all(), name
        low, high = RANGES.get(name, (0.0, 1.0))
        assert values.min() >= low and values.max() <= high, name


# ------------------------------------------------------------------------------------- alignment


def test_forced_alignment_gives_the_transcript_phones_in_order(speak):
    audio = speak(SENTENCE, pad_s=0.3)
    track = analyse_speech(audio, fps=25, transcript=SENTENCE)
    assert track.source == "alignment"
    spoken = [p for p in track.phones if p.label != "SIL"]
    words = ["bob", "met", "a", "very", "famous", "person", "at", "the", "movie", "theatre"]
    assert _spells([p.label for p in spoken], words, _pronunciations())
    starts = [p.start_s for p in track.phones]
    assert starts == sorted(starts)
    assert all(p.end_s > p.start_s for p in track.phones)
    assert all(b.start_s >= a.end_s - 1e-6 for a, b in zip(track.phones, track.phones[1:], strict=False))
    assert all(0.01 <= p.end_s - p.start_s <= 0.5 for p in spoken)
    sounding = np.flatnonzero(np.abs(audio.samples[0]) > 0.01) / audio.sample_rate
    assert abs(spoken[0].start_s - sounding[0]) < 0.1
    assert abs(spoken[-1].end_s - sounding[-1]) < 0.1


def test_unknown_words_are_pronounced_by_rule(speak):
    text = "Bob met a very famous Zorblax at the movie theatre."
    track = analyse_speech(speak(text), fps=25, transcript=text)
    assert track.source == "alignment"
    labels = " ".join(p.label for p in track.phones)
    assert "Z AO R B L AE K S" in labels


def test_a_transcript_that_does_not_match_falls_back_to_recognition(speak, caplog):
    track = analyse_speech(speak(SENTENCE), fps=25, transcript="completely unrelated words about the weather")
    assert track.source == "recognition"
    assert len([p for p in track.phones if p.label != "SIL"]) >= 10
    assert "forced alignment failed" in caplog.text


def test_without_transcript_phones_are_recognised(speak):
    track = analyse_speech(speak(SENTENCE, pad_s=0.3), fps=25)
    assert track.source == "recognition"
    assert len([p for p in track.phones if p.label != "SIL"]) >= 15
    _check_shape(track)


# --------------------------------------------------------------------------------------- visemes


@pytest.mark.parametrize("fps", [25, 30])
@pytest.mark.parametrize("transcript", [True, False], ids=["aligned", "recognised"])
def test_jaw_follows_loudness(speak, fps, transcript):
    audio = speak(SENTENCE, pad_s=0.3)
    track = analyse_speech(audio, fps=fps, transcript=SENTENCE if transcript else None)
    _check_shape(track)
    assert np.corrcoef(track.jaw_open, track.loudness)[0, 1] > 0.5
    assert track.jaw_open.max() > 0.4


@pytest.mark.parametrize("fps", [25, 30])
def test_every_bilabial_presses_the_lips(speak, fps):
    track = analyse_speech(speak(LABIALS, pad_s=0.2), fps=fps, transcript=LABIALS)
    labials = [p for p in track.phones if p.label in ("P", "B", "M")]
    assert len(labials) >= 12
    for phone in labials:
        frames = _frames_within(track, phone.start_s, phone.end_s)
        assert track.lip_press[frames].max() >= 0.8, phone
        assert track.jaw_open[frames].min() <= 0.15, phone
    assert np.median(track.lip_press) < 0.5  # closures are moments, not the resting state


@pytest.mark.parametrize("fps", [25, 30])
def test_labiodentals_tuck_the_lower_lip(speak, fps):
    track = analyse_speech(speak(LABIODENTALS, pad_s=0.2), fps=fps, transcript=LABIODENTALS)
    labiodentals = [p for p in track.phones if p.label in ("F", "V")]
    assert len(labiodentals) >= 8
    for phone in labiodentals:
        frames = _frames_within(track, phone.start_s, phone.end_s)
        assert track.lip_tuck[frames].max() >= 0.8, phone
        assert track.teeth[frames].max() >= 0.5, phone
    assert np.median(track.lip_tuck) < 0.3


@pytest.mark.parametrize("transcript", [SENTENCE, None], ids=["aligned", "recognised"])
def test_silence_at_the_edges_closes_the_mouth(speak, transcript):
    track = analyse_speech(speak(SENTENCE, pad_s=0.6), fps=25, transcript=transcript)
    edge = int(0.4 * track.fps)
    for part in (slice(0, edge), slice(-edge, None)):
        assert track.jaw_open[part].max() < 0.05
        assert track.lip_press[part].max() < 0.05
        assert np.abs(track.lip_width[part]).max() < 0.15
        assert track.teeth[part].max() < 0.15
        assert track.loudness[part].max() < 0.05
        assert track.voiced[part].max() < 0.1
        assert np.all(track.pitch[part] == 0)


def test_louder_speech_opens_the_jaw_wider(speak):
    quiet, loud = speak(SENTENCE, pad_s=0.3, gain=0.1), speak(SENTENCE, pad_s=0.3)
    both = Audio(samples=np.concatenate([quiet.samples, loud.samples], axis=1), sample_rate=loud.sample_rate)
    track = analyse_speech(both, fps=25)
    half = track.n_frames // 2
    assert track.loudness[half:].max() > track.loudness[:half].max() + 0.2
    assert np.percentile(track.jaw_open[half:], 90) > 1.3 * np.percentile(track.jaw_open[:half], 90)


def test_rounding_is_anticipated_and_closures_survive_blending():
    # S before a rounded vowel is rounder than S before a spread one (anticipatory co-articulation)
    def width_during_s(vowel: str) -> float:
        phones = [Timed("SIL", 0, 0.2), Timed("S", 0.2, 0.3), Timed(vowel, 0.3, 0.5), Timed("SIL", 0.5, 0.8)]
        mouth = mouth_from_phones(phones, n=80, loudness=np.ones(80, np.float32))
        return float(mouth["lip_width"][22:29].mean())

    assert width_during_s("UW") < width_during_s("IY") - 0.3
    # a 30 ms B between two open vowels still closes the lips fully
    phones = [Timed("AA", 0, 0.3), Timed("B", 0.3, 0.33), Timed("AA", 0.33, 0.6)]
    mouth = mouth_from_phones(phones, n=60, loudness=np.ones(60, np.float32))
    assert mouth["lip_press"][30:33].max() >= 0.95
    assert mouth["jaw_open"][30:33].min() < 0.15
    assert mouth["jaw_open"][10] > 0.7 and mouth["lip_press"][10] < 0.05


# --------------------------------------------------------------------- frames, fallbacks, errors


def _tone(seconds: float, *, rate: int = 16_000) -> Audio:
    t = np.arange(round(seconds * rate), dtype=np.float32) / rate
    voice = sum(np.sin(2 * np.pi * 120 * k * t) / k for k in range(1, 12))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return Audio(samples=(0.1 * voice * envelope).astype(np.float32), sample_rate=rate)


@pytest.mark.parametrize("fps", [25, 30, 29.97, 60])
@pytest.mark.parametrize("seconds", [0.1, 1.0, 1.013, 2.5])
def test_one_value_per_video_frame(fps, seconds):
    audio = _tone(seconds)
    track = analyse_speech(audio, fps=fps)
    assert track.n_frames == math.ceil(round(audio.duration_s * fps, 6))
    assert track.fps == fps
    _check_shape(track)


def test_other_sample_rates_and_stereo_are_accepted():
    mono = _tone(1.0, rate=44_100)
    stereo = Audio(samples=np.stack([mono.samples[0], mono.samples[0]]), sample_rate=44_100)
    track = analyse_speech(stereo, fps=25)
    assert track.n_frames == 25
    _check_shape(track)


def test_silence_gives_a_closed_mouth_and_no_phones():
    track = analyse_speech(Audio(samples=np.zeros(16_000, np.float32), sample_rate=16_000), fps=25)
    assert track.source == "acoustic" and track.phones == []
    assert track.n_frames == 25
    for name in ARRAYS:
        assert not getattr(track, name).any(), name


def test_held_notes_are_treated_as_singing():
    rate = 16_000
    notes = []
    for f0 in (220.0, 247.0, 262.0, 294.0, 330.0, 294.0):
        t = np.arange(int(0.5 * rate), dtype=np.float32) / rate
        note = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8)) * np.hanning(t.size) ** 0.2
        notes += [0.2 * note, np.zeros(int(0.08 * rate))]
    track = analyse_speech(Audio(samples=np.concatenate(notes).astype(np.float32), sample_rate=rate), fps=25)
    assert track.source == "acoustic"
    _check_shape(track)
    assert track.jaw_open.max() > 0.3
    assert np.corrcoef(track.jaw_open, track.loudness)[0, 1] > 0.5
    sung = track.voiced > 0.5
    assert np.ptp(track.pitch[sung]) > 5  # six notes spanning five semitones either side of the median


def _with_nan() -> Audio:
    audio = _tone(1.0)
    audio.samples[0, 100] = np.nan  # the array is mutable after Audio checked it
    return audio


@pytest.mark.parametrize(
    ("make", "fps", "message"),
    [
        (lambda: Audio(samples=np.zeros((1, 0), np.float32), sample_rate=16_000), 25, "empty"),
        (lambda: _tone(0.05), 25, "0.050 s long"),
        (_with_nan, 25, "NaN"),
        (lambda: _tone(1.0), 0, "fps"),
        (lambda: _tone(1.0), float("nan"), "fps"),
        (lambda: np.zeros(16_000, np.float32), 25, "media.Audio"),
    ],
    ids=["empty", "too-short", "nan", "zero-fps", "nan-fps", "not-audio"],
)
def test_bad_input_is_a_clear_speech_error(make, fps, message):
    with pytest.raises(SpeechError, match=message) as caught:
        analyse_speech(make(), fps=fps)
    assert isinstance(caught.value, GeneratorError) and isinstance(caught.value, LikenessError)
    assert caught.value.http_status == 422


def test_track_shapes_are_checked():
    ones = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="jaw_open"):
        SpeechTrack(fps=25, n_frames=3, loudness=ones, voiced=ones, pitch=ones, jaw_open=np.ones(4, np.float32),
                    lip_width=ones, lip_press=ones, lip_tuck=ones, teeth=ones, tongue=ones)
    assert Phone("AA", 0.0, 0.1).label == "AA"


@pytest.mark.parametrize("name", ["generator.speech", "generator._visemes"])
def test_docstring_examples(name):
    module = importlib.import_module(name)
    assert ">>>" in (module.__doc__ or "")
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0


# ------------------------------------------------------------------------------- shared recordings

ENGLISH = ["st_RD_Radio31_000.wav", "st_RD_Radio34_002.wav", "ha_1.wav", "ha_2.wav"]
OTHER = ["st_chinese_poem1.wav", "st_imagine.wav"]


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ENGLISH + OTHER)
def test_shared_recordings_give_a_plausible_track(shared_data: Path, name):
    audio = read_audio(shared_data / "speech" / name)
    for fps in (25, 30):
        track = analyse_speech(audio, fps=fps)
        assert track.n_frames == math.ceil(round(audio.duration_s * fps, 6))
        _check_shape(track)
        assert np.corrcoef(track.jaw_open, track.loudness)[0, 1] > 0.4
        assert 0.3 < track.jaw_open.max() <= 1.0
        quiet = track.loudness < 0.02
        assert track.jaw_open[quiet].max(initial=0.0) < 0.1
        if name in ENGLISH:
            assert track.source == "recognition"
            assert (track.lip_press >= 0.8).any()
        if name == "st_imagine.wav":
            assert track.source == "acoustic"  # sung: held notes
