"""The sandbox: untrusted files decoded in a confined child; a crash, a bomb or a hang fails one call.

The hooks in ``sandbox_hooks`` run in the child through the private ``Sandbox._call`` (the public
readers only run media's own readers): a segfault, an abort, an allocation, a hang, a busy loop.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import sandbox_hooks as hooks
from media_factories import card, eight_channels, tone
from PIL import Image

from media import (
    Limits,
    MediaError,
    MediaTooLargeError,
    Sandbox,
    iter_frames,
    probe_video,
    read_audio,
    read_image,
)
from media.sandbox import seccomp_available

BOX = Sandbox(memory_mib=512, cpu_s=20, wall_s=30)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_sandboxed_readers_give_what_the_readers_give(make_video, make_audio):
    photo = _png(Image.fromarray(card(2, width=80, height=60)))
    assert np.array_equal(BOX.read_image(photo), read_image(photo))
    sound = make_audio("a.wav", tone(0.5, rate=16_000, channels=2), rate=16_000, codec="pcm_s16le")
    ours, theirs = BOX.read_audio(sound, sample_rate=8_000, mono=True), read_audio(sound, sample_rate=8_000, mono=True)
    assert (ours.sample_rate, ours.channels) == (theirs.sample_rate, theirs.channels) == (8_000, 1)
    assert np.array_equal(ours.samples, theirs.samples)
    clip = make_video("clip.mp4", frames=12, width=96, height=64, audio=(tone(0.5, rate=48_000), 48_000))
    assert BOX.probe_video(clip) == probe_video(clip)
    streamed = list(BOX.iter_frames(clip, every=3, max_side=48))
    assert [f.shape for f in streamed] == [(32, 48, 3)] * 4
    assert all(np.array_equal(a, b) for a, b in zip(streamed, iter_frames(clip, every=3, max_side=48), strict=True))
    streamed[0][0, 0] = 7  # writable, like the in-process frames


def test_the_file_s_own_errors_come_back_as_they_are(make_video, tmp_path):
    with pytest.raises(MediaError, match="not a recognised media file") as caught:
        BOX.read_audio(b"RIFF" + bytes(100))
    assert type(caught.value) is MediaError and caught.value.http_status == 422
    clip = make_video("big.mp4", frames=2, width=128, height=64)
    with pytest.raises(MediaTooLargeError, match="over the limit of 100 pixels a side"):
        BOX.probe_video(clip, limits=Limits(max_side=100))
    with pytest.raises(MediaError, match="this is an MP4 video, not an image"):
        BOX.read_image(clip)
    with pytest.raises(ValueError, match="every must be at least 1"):  # the caller's mistake, at once
        BOX.iter_frames(clip, every=0)
    with pytest.raises(ValueError, match="sample_rate must be in"):
        BOX.read_audio(clip, sample_rate=0)


@pytest.mark.parametrize(("name", "codec", "container_format"), [("a.m4a", "aac", "ipod"), ("a.flac", "flac", None)])
def test_eight_channel_audio_is_decoded_in_the_sandbox(tmp_path, name, codec, container_format):
    path = tmp_path / name
    eight_channels(path, codec=codec, container_format=container_format)
    audio = BOX.read_audio(path)
    assert (audio.channels, audio.sample_rate) == (8, 48_000)
    assert BOX.read_audio(path.read_bytes(), mono=True, sample_rate=16_000).channels == 1


def test_pyav_s_own_crash_fails_one_call(tmp_path):
    path = tmp_path / "a.flac"
    eight_channels(path, codec="flac")
    try:
        shape = BOX._call(hooks.planar_eight_channels, str(path))
    except MediaError as exc:
        message = str(exc)
    else:
        pytest.skip(f"this PyAV no longer crashes on planar 8-channel frames (shape {shape})")
    assert "the decoder crashed on this file (SIGSEGV)" in message
    assert BOX._call(hooks.echo, "still here") == "still here"


@pytest.mark.parametrize(("hook", "signal_name"), [(hooks.segfault, "SIGSEGV"), (hooks.abort, "SIGABRT")])
def test_a_crash_in_the_child_is_a_media_error(hook, signal_name, caplog):
    with pytest.raises(MediaError, match=rf"the decoder crashed on this file \({signal_name}\)") as caught:
        BOX._call(hook)
    assert type(caught.value) is MediaError and caught.value.http_status == 422
    assert any("sandbox:" in r.message and "died" in r.message for r in caplog.records)
    assert BOX._call(hooks.echo, 1) == 1  # this process, and the forkserver, are fine


def test_a_memory_bomb_is_too_large():
    # A real one: a 4096² PNG is 50 KiB on disk, within Limits.image(), and 48 MiB once decoded.
    bomb = _png(Image.new("RGB", (4096, 4096)))
    assert len(bomb) < 200_000
    with pytest.raises(MediaTooLargeError, match="needs more than 24 MiB of memory") as caught:
        Sandbox(memory_mib=24)._call(read_image, bomb)
    assert caught.value.http_status == 413
    with pytest.raises(MediaTooLargeError, match="needs more than 64 MiB"):
        Sandbox(memory_mib=64)._call(hooks.allocate, 256)
    assert Sandbox(memory_mib=64)._call(hooks.allocate, 16) == 4096  # under the limit it runs


def test_a_hang_is_killed_at_the_wall_clock_limit():
    with pytest.raises(MediaError, match=r"took longer than 0\.5 s: it was stopped"):
        Sandbox(wall_s=0.5)._call(hooks.hang)


def test_a_busy_loop_is_killed_at_the_cpu_limit():
    with pytest.raises(MediaError, match="used more than 1 s of CPU time"):
        Sandbox(cpu_s=1, wall_s=60)._call(hooks.spin)


def test_a_7000_square_png_is_refused_before_decoding():
    # 7000×7000 of one colour: a small file that would decode to 147 MiB as RGB.
    bomb = _png(Image.new("L", (7000, 7000)))
    message = r"image is 7000x7000 \(49\.0 megapixels\), over the limit of 16\.8 megapixels"
    # 16 MiB could not hold the decoded image: the refusal is the header check's, before decoding
    with pytest.raises(MediaTooLargeError, match=message):
        Sandbox(memory_mib=16).read_image(bomb)
    with pytest.raises(MediaTooLargeError, match=message):
        read_image(bomb)


@pytest.mark.skipif(not seccomp_available(), reason="libseccomp is not installed")
def test_the_child_cannot_open_sockets_run_programs_fork_write_files_or_signal_others():
    outcomes = BOX._call(hooks.forbidden)
    assert outcomes == {
        "socket": "PermissionError", "unix socket": "PermissionError", "subprocess": "PermissionError",
        "fork": "PermissionError", "write a file": "PermissionError",
        "read a file": "allowed", "thread": "allowed",  # decoders read their input and use threads
        "signal another process": "PermissionError", "signal itself": "allowed",
        "raise a limit": "ValueError", "read a limit": "allowed",  # setrlimit's EPERM, in Python's words
    }
    assert not os.path.exists("/tmp/likeness-sandbox-probe")


def test_frames_stream_one_at_a_time_and_stopping_early_ends_the_child():
    stream = BOX._stream(hooks.pid_then_frames, 1000, size=256)
    pid = int(next(stream)[0])
    first = [next(stream) for _ in range(3)]
    assert [int(f[0, 0, 0]) for f in first] == [0, 1, 2]
    os.kill(pid, 0)  # alive, blocked on the full pipe
    stream.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert BOX._call(hooks.echo, "next") == "next"


def test_a_video_bomb_is_too_large_for_a_small_sandbox(make_video):
    # 4096² frames: within Limits.video(), a few KiB each on disk, tens of MiB in the decoder
    clip = make_video("big.mp4", frames=[np.zeros((4096, 4096, 3), np.uint8)] * 2)
    with pytest.raises(MediaTooLargeError, match="needs more memory than allowed"):
        list(Sandbox(memory_mib=64).iter_frames(clip))
    frames = list(Sandbox.for_video().iter_frames(clip, max_side=512))
    assert [f.shape for f in frames] == [(512, 512, 3)] * 2
