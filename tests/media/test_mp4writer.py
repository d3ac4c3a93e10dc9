"""The private MP4 writer: H.264/AAC, fast start, audio fitted to the video, colours, refusals."""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from bmff_boxes import top_level_boxes
from media_factories import card, tone

from media import Audio, MediaError, iter_frames, probe_video, read_audio
from media._mp4writer import Mp4Writer

FFPROBE = shutil.which("ffprobe")


def _write(path: Path, *, frames: int = 25, fps: int | Fraction = 25, audio: Audio | None = None,
           width: int = 64, height: int = 48) -> Path:
    with Mp4Writer(
        path, width=width, height=height, fps=fps, crf=18, preset="veryfast", audio=audio
    ) as writer:
        for index in range(frames):
            writer.write(card(index, width=width, height=height))
    return path


def _ffprobe(path: Path) -> dict:
    assert FFPROBE is not None
    result = subprocess.run(
        [FFPROBE, "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True, check=True, text=True,
    )
    return json.loads(result.stdout)


def _stream_durations(path: Path) -> dict[str, float]:
    with av.open(str(path)) as container:
        return {s.type: float(s.duration * s.time_base) for s in container.streams if s.duration}


def test_writes_h264_aac_with_the_index_first(tmp_path):
    audio = Audio(samples=tone(1.0, rate=48_000), sample_rate=48_000)
    path = _write(tmp_path / "out.mp4", frames=25, audio=audio)
    boxes = top_level_boxes(path.read_bytes())
    assert boxes[0] == "ftyp", boxes
    assert boxes.index("moov") < boxes.index("mdat"), boxes
    info = probe_video(path)
    assert (info.width, info.height, info.fps, info.frame_count) == (64, 48, 25.0, 25)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    with av.open(str(path)) as container:
        video = container.streams.video[0].codec_context
        assert video.pix_fmt == "yuv420p"
        assert (video.colorspace, video.color_range) == (6, 1)  # BT.601 matrix, limited range


def test_colours_round_trip(tmp_path):
    path = _write(tmp_path / "out.mp4", frames=10)
    for index, frame in enumerate(iter_frames(path)):
        error = np.abs(frame[6:18, 4:12].astype(int) - card(index)[6:18, 4:12].astype(int)).mean()
        assert error < 4, index
        whole = np.abs(frame.astype(int) - card(index).astype(int)).mean()
        assert whole < 8, index


@pytest.mark.skipif(FFPROBE is None, reason="ffprobe is not installed")
def test_ffmpeg_reads_it(tmp_path):
    audio = Audio(samples=tone(2.0, rate=44_100, channels=2), sample_rate=44_100)
    path = _write(tmp_path / "out.mp4", frames=50, audio=audio)
    probe = _ffprobe(path)
    streams = {s["codec_type"]: s for s in probe["streams"]}
    assert streams["video"]["codec_name"] == "h264"
    assert streams["video"]["pix_fmt"] == "yuv420p"
    assert streams["video"]["color_space"] == "smpte170m"
    assert streams["video"]["color_range"] == "tv"
    assert streams["video"]["color_primaries"] == "bt709"
    assert int(streams["video"]["nb_frames"]) == 50
    assert streams["audio"]["codec_name"] == "aac"
    assert int(streams["audio"]["sample_rate"]) == 44_100
    assert streams["audio"]["channels"] == 2
    assert float(probe["format"]["duration"]) == pytest.approx(2.0, abs=0.05)
    # and it decodes every frame without an error
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
                             capture_output=True, text=True, check=True)
    assert decoded.stderr.strip() == ""


@pytest.mark.parametrize("audio_seconds", [0.7, 3.5])
def test_audio_is_fitted_to_the_video(tmp_path, audio_seconds):
    audio = Audio(samples=tone(audio_seconds, rate=48_000, freq=300), sample_rate=48_000)
    path = _write(tmp_path / "out.mp4", frames=50, fps=25, audio=audio)  # 2 s of video
    durations = _stream_durations(path)
    assert durations["video"] == pytest.approx(2.0, abs=0.01)
    assert durations["audio"] == pytest.approx(2.0, abs=0.03)
    decoded = read_audio(path)
    assert decoded.duration_s == pytest.approx(2.0, abs=0.03)
    level = np.sqrt(np.mean(decoded.samples[0] ** 2))
    assert level > 0.1
    if audio_seconds < 2.0:  # the rest is silence
        tail = decoded.samples[0, int(0.8 * 48_000):int(1.9 * 48_000)]
        assert np.abs(tail).max() < 0.01


def test_audio_rate_and_channels_are_made_encodable(tmp_path):
    odd = Audio(samples=tone(1.0, rate=22_000, channels=1), sample_rate=22_000)  # not an AAC rate
    path = _write(tmp_path / "a.mp4", frames=25, audio=odd)
    with av.open(str(path)) as container:
        assert container.streams.audio[0].codec_context.sample_rate == 48_000
    many = Audio(samples=tone(1.0, rate=16_000, channels=4), sample_rate=16_000)
    path = _write(tmp_path / "b.mp4", frames=25, audio=many)
    with av.open(str(path)) as container:
        context = container.streams.audio[0].codec_context
        assert (context.sample_rate, context.channels) == (16_000, 1)


def test_fractional_fps(tmp_path):
    path = _write(tmp_path / "ntsc.mp4", frames=30, fps=Fraction(30000, 1001))
    info = probe_video(path)
    assert info.fps == pytest.approx(29.97, abs=0.01)
    assert info.frame_count == 30
    assert info.duration_s == pytest.approx(30 * 1001 / 30000, abs=0.01)


def test_frames_of_the_wrong_shape_are_refused(tmp_path):
    path = tmp_path / "out.mp4"
    with Mp4Writer(path, width=64, height=48, fps=25) as writer:
        writer.write(card(0))
        writer.write(card(1))
        wrong = r"frame 2 is uint8 \(48, 48, 3\); the video takes uint8 frames of shape \(48, 64, 3\)"
        with pytest.raises(MediaError, match=wrong):
            writer.write(np.zeros((48, 48, 3), np.uint8))
        with pytest.raises(MediaError, match="float32"):
            writer.write(card(0).astype(np.float32))
        writer.write(card(2))  # a refused frame leaves the writer usable
    assert probe_video(path).frame_count == 3
    with pytest.raises(MediaError, match="must be positive and even"):
        Mp4Writer(path, width=63, height=48, fps=25)
    with pytest.raises(MediaError, match="preset"):
        Mp4Writer(path, width=64, height=48, fps=25, preset="warp")
    with pytest.raises(MediaError, match="no frames"):
        with Mp4Writer(path, width=64, height=48, fps=25):
            pass


def test_an_exception_in_the_block_closes_the_file_and_propagates(tmp_path):
    path = tmp_path / "out.mp4"
    writers: list[Mp4Writer] = []

    def fail_midway() -> None:
        with Mp4Writer(path, width=64, height=48, fps=25) as writer:
            writers.append(writer)
            writer.write(card(0))
            raise RuntimeError("generator failed")

    with pytest.raises(RuntimeError, match="generator failed"):
        fail_midway()
    with pytest.raises(MediaError, match="closed"):
        writers[0].write(card(1))
    writers[0].close()  # closing again is harmless
    assert path.exists()
    path.unlink()  # the caller deletes it
    assert not path.exists()


def test_unwritable_destination(tmp_path):
    with pytest.raises(MediaError, match="cannot create"):
        Mp4Writer(tmp_path / "missing" / "out.mp4", width=64, height=48, fps=25)


def test_larger_frames_decode_back(tmp_path):
    path = _write(tmp_path / "big.mp4", frames=8, width=512, height=512)
    frames = list(iter_frames(path))
    assert len(frames) == 8
    assert frames[0].shape == (512, 512, 3)
    assert np.abs(frames[3].astype(int) - card(3, width=512, height=512).astype(int)).mean() < 3
