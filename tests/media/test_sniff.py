"""Sniffing: a file is what its content says, whatever its name."""

from __future__ import annotations

import numpy as np
import pytest
from media_factories import card, image_bytes, tone
from PIL import Image

from media import MediaError, MediaType, sniff_bytes, sniff_file


def _ftyp(brand: bytes) -> bytes:
    return (24).to_bytes(4, "big") + b"ftyp" + brand + bytes(4) + b"isom" + b"mp41"


def _ebml(doctype: bytes) -> bytes:
    body = b"\x42\x86\x81\x01" + b"\x42\x82" + bytes([0x80 | len(doctype)]) + doctype
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(body)]) + body + b"\x18\x53\x80\x67"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (_ftyp(b"isom"), MediaType.MP4),
        (_ftyp(b"mp42"), MediaType.MP4),
        (_ftyp(b"M4A "), MediaType.M4A),
        (_ftyp(b"qt  "), MediaType.MOV),
        (b"\x00\x00\x00\x08wide\x00\x00\x00\x10mdat", MediaType.MOV),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", MediaType.WAV),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", MediaType.WEBP),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x64", MediaType.MP3),
        (b"\xff\xfb\x90\x64" + bytes(28), MediaType.MP3),
        (b"ID3\x04\x00\x00\x00\x00\x00\x02" + bytes(2) + b"fLaC", MediaType.FLAC),
        (b"fLaC\x00\x00\x00\x22", MediaType.FLAC),
        (b"OggS\x00\x02" + bytes(20), MediaType.OGG),
        (_ebml(b"webm"), MediaType.WEBM),
        (_ebml(b"matroska"), MediaType.MKV),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", MediaType.JPEG),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", MediaType.PNG),
    ],
)
def test_signatures(head, expected):
    assert sniff_bytes(head) is expected


def test_real_files_are_sniffed_by_content(make_video, make_audio, tmp_path):
    video = make_video("clip.mp4", frames=2)
    assert sniff_file(video) is MediaType.MP4
    webm = make_video("clip.webm", frames=2, codec="libvpx-vp9", container_format="webm")
    assert sniff_file(webm) is MediaType.WEBM
    mkv = make_video("clip.mkv", frames=2, container_format="matroska")
    assert sniff_file(mkv) is MediaType.MKV
    mov = make_video("clip.mov", frames=2, container_format="mov")
    assert sniff_file(mov) is MediaType.MOV
    samples = tone(0.2, rate=48_000)
    for name, codec, container_format, expected in [
        ("a.wav", "pcm_s16le", None, MediaType.WAV),
        ("a.m4a", "aac", "ipod", MediaType.M4A),
        ("a.ogg", "libopus", None, MediaType.OGG),
        ("a.flac", "flac", None, MediaType.FLAC),
        ("a.mp3", "libmp3lame", None, MediaType.MP3),
    ]:
        path = make_audio(name, samples, rate=48_000, codec=codec, container_format=container_format)
        assert sniff_file(path) is expected, name


def test_the_name_is_ignored(tmp_path):
    fake_video = tmp_path / "clip.mp4"
    fake_video.write_bytes(image_bytes(Image.fromarray(card(0)), fmt="PNG"))
    assert sniff_file(fake_video) is MediaType.PNG

    text = tmp_path / "portrait.jpg"
    text.write_text("Dear reviewer, please find my portrait attached.\n")
    refusal = r"not a recognised media file \(starts with 44 65 61 72 .*, which looks like text\)"
    with pytest.raises(MediaError, match=refusal):
        sniff_file(text)


def test_large_id3_tag_before_flac_is_skipped(tmp_path):
    size = 10_000  # larger than the head sniff_file reads first
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    path = tmp_path / "song.bin"
    path.write_bytes(b"ID3\x04\x00\x00" + syncsafe + bytes(size) + b"fLaC" + bytes(40))
    assert sniff_file(path) is MediaType.FLAC


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"", "empty file"),
        (bytes(64), "not a recognised media file (starts with 00 00 00 00"),
        (b"GIF89a\x01\x00\x01\x00", "GIF is not supported"),
        (b"%PDF-1.7\n", "a PDF document"),
        (b"PK\x03\x04\x14\x00", "a ZIP archive"),
        (b"RIFF\x24\x00\x00\x00AVI LIST", "an AVI video"),
        (_ftyp(b"heic"), "HEIF/AVIF image"),
        (b"\xff\xf1\x50\x80\x02\x1f\xfc", "raw AAC (ADTS)"),
        (_ebml(b"foo"), "DocType 'foo'"),
        (b"\x1a\x45\xdf\xa3", "names no DocType"),
    ],
)
def test_refusals_say_what_was_found(head, message):
    with pytest.raises(MediaError) as caught:
        sniff_bytes(head)
    assert message in str(caught.value)


def test_random_bytes_are_refused():
    rng = np.random.default_rng(7)
    refused = 0
    for _ in range(200):
        head = rng.bytes(int(rng.integers(1, 64)))
        try:
            kind = sniff_bytes(head)
        except MediaError:
            refused += 1
        else:
            assert isinstance(kind, MediaType)  # a chance signature match is still a MediaType
    assert refused >= 190


def test_unreadable_path(tmp_path):
    with pytest.raises(MediaError, match="cannot read"):
        sniff_file(tmp_path / "missing.mp4")
    with pytest.raises(MediaError, match="cannot read"):
        sniff_file(tmp_path)  # a directory
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(MediaError, match="empty file"):
        sniff_file(tmp_path / "empty.wav")


def test_media_type_properties():
    videos = {MediaType.MP4, MediaType.MOV, MediaType.MKV, MediaType.WEBM}
    assert {t for t in MediaType if t.is_video} == videos
    assert {t for t in MediaType if t.is_image} == {MediaType.JPEG, MediaType.PNG, MediaType.WEBP}
    for kind in MediaType:
        assert [kind.is_video, kind.is_audio, kind.is_image].count(True) == 1
        assert kind.mime_type.split("/")[0] in {"video", "audio", "image"}
        assert kind.description.startswith(("a ", "an "))
    assert MediaType.MP3.mime_type == "audio/mpeg"
    assert MediaType("webm") is MediaType.WEBM
    assert f"{MediaType.PNG}" == "png"
