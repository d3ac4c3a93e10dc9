"""Limits: sizes, pixels and durations are refused before anything is decoded."""

from __future__ import annotations

import struct
import zlib
from unittest import mock

import pytest
from media_factories import tone

import media.image
from media import (
    Limits,
    MediaError,
    MediaTooLargeError,
    MediaType,
    iter_frames,
    probe_video,
    read_audio,
    read_image,
)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header(width: int, height: int) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` (its pixel data is a few bytes)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(bytes(1 + 3 * 16))  # one row's worth: the rest is "missing"
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def test_named_limits():
    video, image, audio = Limits.video(), Limits.image(), Limits.audio()
    assert video.max_bytes == 512 * 2**20
    assert video.max_side == 4096
    assert video.max_frames == 36_000
    assert video.max_pixels == 4096 * 4096
    assert video.max_duration_s == 600
    assert image.max_bytes == 25 * 2**20
    assert image.max_pixels == 4096 * 4096  # 16.8 megapixels: 50 MiB as RGB
    assert image.max_side == 8192
    assert audio.max_bytes == 100 * 2**20
    assert audio.max_duration_s == 600
    assert (audio.min_sample_rate, audio.max_sample_rate, audio.max_channels) == (8_000, 192_000, 8)
    statement = Limits.statement()
    assert (statement.max_side, statement.max_pixels) == (3840, 3840 * 2160)
    with pytest.raises(ValueError, match="max_side"):
        Limits(max_side=0)
    assert Limits.video() == Limits.video()
    with pytest.raises(AttributeError):
        video.max_bytes = 1  # type: ignore[misc]


def test_oversize_bytes_are_refused_before_reading(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(_png_header(8, 8) + bytes(2000))
    with mock.patch.object(media.image, "_decode") as decode:
        with pytest.raises(MediaTooLargeError, match=r"file is 2\.\d KiB, over the limit of 1000 bytes"):
            read_image(path, limits=Limits(max_bytes=1000))
        decode.assert_not_called()
    with pytest.raises(MediaTooLargeError, match="over the limit"):
        read_audio(b"RIFF" + bytes(5000), limits=Limits(max_bytes=4096))


def test_png_header_claiming_30000_square_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header(30_000, 30_000))
    with pytest.raises(MediaTooLargeError) as caught:
        read_image(path)
    assert str(caught.value) == "image is 30000x30000, over the limit of 8192 pixels a side"
    assert caught.value.http_status == 413
    assert isinstance(caught.value, MediaError)
    pixels = r"image is 7000x7000 \(49\.0 megapixels\), over the limit of 16\.8 megapixels"
    with pytest.raises(MediaTooLargeError, match=pixels):
        read_image(_png_header(7000, 7000))


def test_video_frame_size_and_duration_limits(make_video):
    clip = make_video("clip.mp4", frames=50, fps=25, width=64, height=48)
    assert probe_video(clip).duration_s == pytest.approx(2.0, abs=0.05)
    with pytest.raises(MediaTooLargeError, match="video is 64x48, over the limit of 32 pixels a side"):
        probe_video(clip, limits=Limits(max_side=32))
    with pytest.raises(MediaTooLargeError, match=r"video lasts 2\.0 s, over the limit of 1 s"):
        probe_video(clip, limits=Limits(max_duration_s=1.0))
    with pytest.raises(MediaTooLargeError, match="50 frames, over the limit of 20"):
        probe_video(clip, limits=Limits(max_frames=20))
    with pytest.raises(MediaTooLargeError, match="over the limit of 32 pixels a side"):
        next(iter_frames(clip, limits=Limits(max_side=32)))


def test_audio_duration_limit(make_audio):
    path = make_audio("long.wav", tone(3.0, rate=8000), rate=8000, codec="pcm_s16le")
    with pytest.raises(MediaTooLargeError, match=r"audio lasts 3\.0 s, over the limit of 2 s"):
        read_audio(path, limits=Limits(max_duration_s=2.0))
    assert read_audio(path, limits=Limits(max_duration_s=4.0)).duration_s == pytest.approx(3.0)


def test_audio_duration_is_counted_while_decoding(make_audio):
    """A header can lie (or say nothing): the decoded samples are counted too."""
    path = make_audio("long.wav", tone(3.0, rate=8000), rate=8000, codec="pcm_s16le")
    with mock.patch.object(Limits, "check_duration"):  # as if the header said nothing
        with pytest.raises(MediaTooLargeError, match="audio lasts more than 2 s, the limit"):
            read_audio(path, limits=Limits(max_duration_s=2.0))


@pytest.mark.parametrize("kind", ["VP8X", "VP8L"])
def test_webp_canvas_is_checked_before_the_decoder_allocates_it(kind):
    if kind == "VP8X":  # extended: 24-bit width-1 and height-1
        body = bytes(4) + (14_999).to_bytes(3, "little") + (9_999).to_bytes(3, "little")
    else:  # lossless: 14-bit width-1 and height-1 after a 0x2f signature byte
        body = b"\x2f" + ((16_383) | (16_383 << 14)).to_bytes(4, "little") + bytes(5)
    chunk = kind.encode() + len(body).to_bytes(4, "little") + body
    data = b"RIFF" + (4 + len(chunk)).to_bytes(4, "little") + b"WEBP" + chunk
    decoder = mock.Mock()
    with mock.patch.dict(media.image._DECODERS, {MediaType.WEBP: decoder}):
        with pytest.raises(MediaTooLargeError, match="over the limit of 8192 pixels a side"):
            read_image(data)
    decoder.assert_not_called()
