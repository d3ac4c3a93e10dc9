"""The default generator end to end: prepare once, render in windows, never write a file."""

from __future__ import annotations

import numpy as np
import pytest
from motion_factories import SENTENCE

from faces import find_face, head_pose, mouth_opening
from generator import Controls, GeneratorError, get_generator
from media import Audio


@pytest.fixture(scope="module")
def generation(portrait, speech):  # type: ignore[no-untyped-def]
    return get_generator().prepare(portrait, speech, controls=Controls(seed=11), transcript=SENTENCE)


def test_one_frame_per_video_frame_of_the_audio(generation, speech):
    assert generation.n_frames == int(np.ceil(speech.duration_s * 25))
    assert generation.speech.source == "alignment"
    assert set(generation.timings_s) == {"rig", "speech", "motion"}


def test_windows_stream_in_order_and_cover_every_frame(generation):
    windows = generation.windows(40)
    first = next(windows)
    assert len(first) == 40 and all(f.shape == (512, 512, 3) and f.dtype == np.uint8 for f in first)
    rest = list(windows)
    assert sum(len(w) for w in rest) + 40 == generation.n_frames
    assert np.array_equal(first[7], generation.frame(7))  # windows are the frames, in order
    with pytest.raises(GeneratorError):
        next(generation.windows(0))


def test_the_output_talks_keeps_the_face_and_moves_the_head(generation):
    frames = list(generation.frames())
    faces = [find_face(f) for f in frames[::5]]
    mouth = np.array([mouth_opening(f) for f in faces])
    loud = generation.speech.loudness[::5]
    assert np.corrcoef(mouth, loud)[0, 1] > 0.3  # the mouth follows the voice
    assert mouth.max() > 3 * max(mouth.min(), 1e-3)
    yaw = np.array([head_pose(f)[0] for f in faces])
    assert 0.2 < yaw.std() < 8.0  # the head moves, moderately


def test_same_seed_same_video(portrait, speech, generation):
    again = get_generator().prepare(portrait, speech, controls=Controls(seed=11), transcript=SENTENCE)
    assert np.array_equal(again.frame(30), generation.frame(30))


def test_stream_yields_windows_without_preparing_twice(portrait, speech):
    stream = get_generator().stream(portrait, speech, controls=Controls(seed=2, still_head=True), window=10)
    first = next(stream)
    assert len(first) == 10
    stream.close()


def test_the_protocols_stream_renders_the_prepared_frames(portrait, speech, generation):
    stream = get_generator().stream(portrait, speech, controls=Controls(seed=11), transcript=SENTENCE, window=5)
    first = next(stream)
    stream.close()
    assert len(first) == 5 and all(np.array_equal(frame, generation.frame(i)) for i, frame in enumerate(first))
    assert set(generation.timings_s) == {"rig", "speech", "motion"}


def test_refusals(portrait, speech):
    with pytest.raises(GeneratorError, match="unknown generator backend 'vasa'"):
        get_generator("vasa")
    long = Audio(samples=np.zeros((1, 16_000 * 601), np.float32), sample_rate=16_000)
    with pytest.raises(GeneratorError, match="at most 600 s"):
        get_generator().prepare(portrait, long)
    with pytest.raises(Exception, match="no face found"):
        get_generator().prepare(np.full((400, 400, 3), 128, np.uint8), speech)


def test_the_generator_writes_no_files(portrait, speech, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    generation = get_generator().prepare(portrait, speech, controls=Controls(seed=1))
    next(generation.windows(5))
    assert list(tmp_path.iterdir()) == []
