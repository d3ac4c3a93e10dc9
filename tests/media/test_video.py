"""probe_video and iter_frames: header facts, frame selection, colours, rotation, broken files."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from bmff_boxes import top_level_boxes
from media_factories import card, tone

from media import Limits, MediaError, MediaTooLargeError, MediaType, iter_frames, probe_video, read_audio


def _cells_error(frame: np.ndarray, expected: np.ndarray) -> float:
    """Mean absolute error over the interiors of the 4x2 colour cells (edges smear in 4:2:0)."""
    h, w = expected.shape[0] // 2, expected.shape[1] // 4
    errors = [
        np.abs(frame[r * h + 4:(r + 1) * h - 4, c * w + 4:(c + 1) * w - 4].astype(int)
               - expected[r * h + 4:(r + 1) * h - 4, c * w + 4:(c + 1) * w - 4].astype(int)).mean()
        for r in range(2) for c in range(4)
    ]
    return float(max(errors))


def test_probe_video(make_video):
    clip = make_video("clip.mp4", frames=30, fps=25, width=96, height=64,
                      audio=(tone(1.2, rate=44_100), 44_100))
    info = probe_video(clip)
    assert (info.width, info.height, info.fps, info.frame_count) == (96, 64, 25.0, 30)
    assert info.duration_s == pytest.approx(1.2, abs=0.05)
    assert (info.video_codec, info.audio_codec, info.has_audio) == ("h264", "aac", True)
    assert info.rotation == 0
    assert info.container is MediaType.MP4
    silent = probe_video(make_video("silent.mp4", frames=3))
    assert silent.has_audio is False
    assert silent.audio_codec is None


def test_probe_webm_without_frame_count(make_video):
    clip = make_video("clip.webm", frames=20, fps=10, codec="libvpx-vp9", container_format="webm")
    info = probe_video(clip)
    assert info.container is MediaType.WEBM
    assert info.video_codec == "vp9"
    assert info.frame_count == 20
    assert info.duration_s == pytest.approx(2.0, abs=0.15)


def test_probe_live_webm_without_duration(make_video):
    clip = make_video("live.webm", frames=20, fps=10, codec="libvpx-vp9", container_format="webm", live=True)
    info = probe_video(clip)
    assert (info.frame_count, info.fps) == (20, 10.0)
    assert info.duration_s == pytest.approx(2.0, abs=0.01)
    with pytest.raises(MediaTooLargeError, match="video has at least 11 frames, over the limit of 10"):
        probe_video(clip, limits=Limits(max_frames=10))
    with pytest.raises(MediaTooLargeError, match="over the limit of 1 s"):
        probe_video(clip, limits=Limits(max_duration_s=1.0))
    with pytest.raises(MediaTooLargeError, match="video has at least 11 frames"):
        list(iter_frames(clip, limits=Limits(max_frames=10)))  # counted while decoding too


def test_a_browser_recording_without_a_frame_rate_gets_its_real_rate(tmp_path):
    """MediaRecorder writes WebM with irregular millisecond timestamps and no rate: FFmpeg then reports the
    time base's 1000 ticks a second, which would make 40 ms of video look like one frame per millisecond."""
    import fractions
    import io
    import random

    import av

    class Pipe(io.RawIOBase):  # not seekable, like a recorder's stream: no duration, no index
        def __init__(self, handle):
            self.handle = handle

        def writable(self):
            return True

        def write(self, data):
            return self.handle.write(data)

    rng = random.Random(1)
    path = tmp_path / "recorded.webm"
    with path.open("wb") as raw:
        out = av.open(Pipe(raw), mode="w", format="webm")
        stream = out.add_stream("libvpx", rate=1000)
        stream.width = stream.height = 128
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = fractions.Fraction(1, 1000)
        t = 0
        for i in range(75):
            frame = av.VideoFrame.from_ndarray(np.full((128, 128, 3), i * 3, np.uint8), format="rgb24")
            frame.pts, frame.time_base = t, fractions.Fraction(1, 1000)
            t += 40 + rng.randint(-9, 9)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        out.close()
    with av.open(str(path)) as container:
        assert float(container.streams.video[0].guessed_rate) == 1000  # what FFmpeg says
    info = probe_video(path)
    assert info.fps == pytest.approx(25, abs=0.5) and info.frame_count == 75
    assert info.duration_s == pytest.approx(3.0, abs=0.1)


def test_iter_frames_every_and_max_frames(make_video):
    clip = make_video("clip.mp4", frames=20)
    frames = list(iter_frames(clip))
    assert len(frames) == 20
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 and f.flags.c_contiguous for f in frames)
    picked = list(iter_frames(clip, every=3))
    assert len(picked) == 7  # frames 0, 3, …, 18
    for index, frame in zip(range(0, 20, 3), picked, strict=True):
        assert _cells_error(frame, card(index)) < 8, index
    assert len(list(iter_frames(clip, every=3, max_frames=4))) == 4
    assert list(iter_frames(clip, max_frames=0)) == []
    with pytest.raises(ValueError, match="every"):
        iter_frames(clip, every=0)


def test_colours_survive_encoding(make_video):
    clip = make_video("clip.mp4", frames=5)
    for index, frame in enumerate(iter_frames(clip)):
        assert _cells_error(frame, card(index)) < 6


def test_rotation_is_applied(make_video):
    image = card(0, width=64, height=32)
    clip = make_video("phone.mp4", frames=[image] * 3, rotation=90)
    info = probe_video(clip)
    assert info.rotation == 90
    assert (info.width, info.height) == (32, 64)
    frame = next(iter_frames(clip))
    assert frame.shape == (64, 32, 3)
    assert _cells_error(np.rot90(frame, -1), image) < 8  # displayed = stored turned 90° anticlockwise
    if shutil.which("ffmpeg"):  # FFmpeg's own autorotation agrees
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-frames:v", "1", "-f", "rawvideo",
                              "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
        reference = np.frombuffer(raw, np.uint8).reshape(64, 32, 3)
        assert np.abs(reference.astype(int) - frame.astype(int)).mean() < 3


def _open_descriptors(path: Path) -> int:
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        try:
            count += os.readlink(fd) == str(path)
        except OSError:
            continue
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to count open files")
def test_consumer_stopping_early_closes_the_file(make_video):
    clip = make_video("clip.mp4", frames=10)
    frames = iter_frames(clip)
    assert _open_descriptors(clip) == 0  # nothing is opened until the first frame is asked for
    next(frames)
    assert _open_descriptors(clip) == 1
    frames.close()
    assert _open_descriptors(clip) == 0
    frames = iter_frames(clip)
    next(frames)
    del frames
    gc.collect()
    assert _open_descriptors(clip) == 0
    with pytest.raises(MediaError):  # an error mid-way closes it too
        for _ in iter_frames(clip, limits=Limits(max_frames=5)):
            pass
    assert _open_descriptors(clip) == 0


def test_truncated_mp4_gives_partial_frames_then_media_error(make_video):
    # moov first (as the release path writes): the first half still holds a readable index
    fast = make_video("fast.mp4", frames=60, width=128, height=96, faststart=True)
    boxes = top_level_boxes(fast.read_bytes())
    assert boxes.index("moov") < boxes.index("mdat")
    half = fast.with_name("half.mp4")
    half.write_bytes(fast.read_bytes()[: fast.stat().st_size // 2])
    assert probe_video(half).frame_count == 60  # the index still says 60
    got: list[np.ndarray] = []
    with pytest.raises(MediaError, match="truncated"):
        got.extend(iter_frames(half))
    assert 5 < len(got) < 60
    assert _cells_error(got[0], card(0, width=128, height=96)) < 8

    # moov last (FFmpeg's default): the first half has no index at all
    slow = make_video("slow.mp4", frames=60, width=128, height=96)
    boxes = top_level_boxes(slow.read_bytes())
    assert boxes.index("mdat") < boxes.index("moov")
    head = slow.with_name("head.mp4")
    head.write_bytes(slow.read_bytes()[: slow.stat().st_size // 2])
    with pytest.raises(MediaError, match="corrupt or truncated"):
        probe_video(head)
    with pytest.raises(MediaError, match="corrupt or truncated"):
        list(iter_frames(head))


def test_not_a_video(make_audio, tmp_path):
    wav = make_audio("a.wav", tone(0.1, rate=8000), rate=8000, codec="pcm_s16le")
    with pytest.raises(MediaError, match="this is a WAV audio file, not a video"):
        probe_video(wav)
    with pytest.raises(MediaError, match="not a video"):
        iter_frames(wav)
    m4a = make_audio("a.mp4", tone(0.1, rate=48_000), rate=48_000, codec="aac", container_format="mp4")
    with pytest.raises(MediaError, match=r"has no video track \(it holds only audio\)"):
        probe_video(m4a)
    with pytest.raises(MediaError, match=r"cannot read .*missing\.mp4: No such file"):
        probe_video(tmp_path / "missing.mp4")


@pytest.mark.parametrize("content", [b"", bytes(4096), b"\x00\x00\x00\x18ftypisom" + bytes(100)])
def test_empty_zero_and_hollow_files(tmp_path, content):
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(MediaError):
        probe_video(path)
    with pytest.raises(MediaError):
        list(iter_frames(path))


def test_random_bytes_behind_a_valid_signature(tmp_path):
    rng = np.random.default_rng(3)
    heads = [b"\x00\x00\x00\x18ftypisom", b"\x1a\x45\xdf\xa3\x84\x42\x82\x84webm", b"OggS"]
    for index, head in enumerate(heads):
        path = tmp_path / f"noise{index}.bin"
        path.write_bytes(head + rng.bytes(20_000))
        for read in (probe_video, lambda p: list(iter_frames(p)), read_audio):
            with pytest.raises(MediaError):
                read(path)


def test_shared_clips(shared_data):
    clips = sorted((shared_data / "clips").glob("*.mp4"))
    assert clips
    for path in clips:
        info = probe_video(path)
        assert info.video_codec
        assert info.fps > 0
        assert info.frame_count > 0
        frames = list(iter_frames(path, every=max(1, info.frame_count // 4), max_frames=3))
        assert len(frames) == 3
        assert frames[0].shape == (info.height, info.width, 3)
    no_audio = shared_data / "clips" / "lp_d0.mp4"
    if no_audio.exists():
        assert probe_video(no_audio).has_audio is False
        with pytest.raises(MediaError, match="no audio track"):
            read_audio(no_audio)


def test_limits_default_to_video(make_video):
    clip = make_video("clip.mp4", frames=3)
    assert probe_video(clip, limits=Limits.video()) == probe_video(clip)
