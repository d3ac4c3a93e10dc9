"""What a file is, decided by its content — never by its name.

>>> from media import MediaError, MediaType, sniff_bytes
>>> sniff_bytes(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(24))
<MediaType.PNG: 'png'>
>>> kind = sniff_bytes(bytes([0, 0, 0, 24]) + b"ftypM4A " + bytes(12))
>>> kind, kind.is_audio, kind.mime_type
(<MediaType.M4A: 'm4a'>, True, 'audio/mp4')
>>> try:
...     sniff_bytes(b"<html>")
... except MediaError as exc:
...     print(exc)
not a recognised media file (starts with 3c 68 74 6d 6c 3e "<html>", which looks like text)

Signatures recognised: ISO-BMFF (``ftyp`` box at offset 4; its major brand tells MP4, M4A and
MOV apart), RIFF/WAVE, RIFF/WEBP, MP3 (an ID3 tag or an MPEG audio frame sync), ``fLaC``,
``OggS``, EBML/Matroska (its DocType tells WebM from MKV), JPEG and PNG.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path

from media.errors import MediaError

logger = logging.getLogger(__name__)

#: How many bytes of a file :func:`sniff_file` reads.
HEAD_BYTES = 4096


class MediaType(StrEnum):
    """The media files ``media`` reads, by container."""

    MP4 = "mp4"
    MOV = "mov"
    M4A = "m4a"
    MKV = "mkv"
    WEBM = "webm"
    WAV = "wav"
    MP3 = "mp3"
    FLAC = "flac"
    OGG = "ogg"
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"

    @property
    def is_video(self) -> bool:
        """A container for video (it may also carry audio, or only audio)."""
        return self in _VIDEO

    @property
    def is_audio(self) -> bool:
        """An audio-only container."""
        return self in _AUDIO

    @property
    def is_image(self) -> bool:
        return self in _IMAGE

    @property
    def mime_type(self) -> str:
        return _MIME[self]

    @property
    def description(self) -> str:
        """For messages: ``"a PNG image"``, ``"an MP4 video"``."""
        return _DESCRIPTION[self]


_VIDEO = frozenset({MediaType.MP4, MediaType.MOV, MediaType.MKV, MediaType.WEBM})
_AUDIO = frozenset({MediaType.M4A, MediaType.WAV, MediaType.MP3, MediaType.FLAC, MediaType.OGG})
_IMAGE = frozenset({MediaType.JPEG, MediaType.PNG, MediaType.WEBP})
_MIME = {
    MediaType.MP4: "video/mp4",
    MediaType.MOV: "video/quicktime",
    MediaType.M4A: "audio/mp4",
    MediaType.MKV: "video/x-matroska",
    MediaType.WEBM: "video/webm",
    MediaType.WAV: "audio/wav",
    MediaType.MP3: "audio/mpeg",
    MediaType.FLAC: "audio/flac",
    MediaType.OGG: "audio/ogg",
    MediaType.JPEG: "image/jpeg",
    MediaType.PNG: "image/png",
    MediaType.WEBP: "image/webp",
}
_DESCRIPTION = {
    MediaType.MP4: "an MP4 video",
    MediaType.MOV: "a QuickTime (MOV) video",
    MediaType.M4A: "an M4A audio file",
    MediaType.MKV: "a Matroska (MKV) video",
    MediaType.WEBM: "a WebM video",
    MediaType.WAV: "a WAV audio file",
    MediaType.MP3: "an MP3 audio file",
    MediaType.FLAC: "a FLAC audio file",
    MediaType.OGG: "an Ogg audio file",
    MediaType.JPEG: "a JPEG image",
    MediaType.PNG: "a PNG image",
    MediaType.WEBP: "a WebP image",
}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_M4A_BRANDS = {b"M4A ", b"M4B ", b"M4P "}
_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
# QuickTime files older than the 'ftyp' box start straight with one of these atoms.
_BARE_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
# Files people upload by mistake, named so the message says what they are.
_NOT_SUPPORTED = [
    (b"GIF87a", "a GIF image: GIF is not supported (use PNG, JPEG or WebP)"),
    (b"GIF89a", "a GIF image: GIF is not supported (use PNG, JPEG or WebP)"),
    (b"II*\x00", "a TIFF image: TIFF is not supported (use PNG, JPEG or WebP)"),
    (b"MM\x00*", "a TIFF image: TIFF is not supported (use PNG, JPEG or WebP)"),
    (b"%PDF", "a PDF document, not a media file"),
    (b"PK\x03\x04", "a ZIP archive (or an office document), not a media file"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "a Windows Media (ASF/WMV/WMA) file: not supported"),
    (b"FLV\x01", "a Flash video (FLV): not supported"),
    (b"\x00\x00\x01\xba", "an MPEG program stream: not supported (use MP4)"),
]


def sniff_bytes(head: bytes) -> MediaType:
    """The type of a file whose first bytes are ``head`` (a few KiB are plenty).

    Raises :class:`MediaError` naming what was found when the content is not a supported type.
    """
    if not isinstance(head, bytes):
        head = bytes(head)
    if not head:
        raise MediaError("empty file")
    kind = _sniff(head)
    if kind is None:
        raise MediaError(_unknown(head))
    return kind


def sniff_file(path: Path | str) -> MediaType:
    """The type of the file at ``path``, from its content (its name is ignored)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
            if head.startswith(b"ID3") and len(head) >= 10:
                end = _id3_end(head)
                if end + 4 > len(head):  # a large tag (cover art): look past it
                    handle.seek(end)
                    after = handle.read(4)
                    return MediaType.FLAC if after == b"fLaC" else MediaType.MP3
    except OSError as exc:
        raise MediaError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return sniff_bytes(head)


def _sniff(head: bytes) -> MediaType | None:
    if head.startswith(b"\xff\xd8\xff"):
        return MediaType.JPEG
    if head.startswith(_PNG_SIGNATURE):
        return MediaType.PNG
    if head[4:8] == b"ftyp":
        return _iso_bmff(head[8:12])
    if head[4:8] in _BARE_QUICKTIME_ATOMS and int.from_bytes(head[:4], "big") not in range(2, 8):
        return MediaType.MOV
    if head[:4] in (b"RIFF", b"RF64", b"BW64"):
        form = head[8:12]
        if form == b"WAVE":
            return MediaType.WAV
        if form == b"WEBP" and head[:4] == b"RIFF":
            return MediaType.WEBP
        if form.startswith(b"AVI"):
            raise MediaError("an AVI video: not supported (use MP4)")
        return None
    if head.startswith(b"fLaC"):
        return MediaType.FLAC
    if head.startswith(b"OggS"):
        return MediaType.OGG
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _matroska(head)
    if head.startswith(b"ID3"):
        end = _id3_end(head) if len(head) >= 10 else len(head)
        return MediaType.FLAC if head[end:end + 4] == b"fLaC" else MediaType.MP3
    if len(head) >= 4 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return _mpeg_audio(head)
    for signature, what in _NOT_SUPPORTED:
        if head.startswith(signature):
            raise MediaError(f"not a supported media file: {what}")
    return None


def _iso_bmff(brand: bytes) -> MediaType:
    if brand == b"qt  ":
        return MediaType.MOV
    if brand in _M4A_BRANDS:
        return MediaType.M4A
    if brand in _IMAGE_BRANDS:
        raise MediaError(
            f"a HEIF/AVIF image (brand {brand.decode('latin-1')!r}): not supported (use PNG, JPEG or WebP)"
        )
    return MediaType.MP4  # isom, iso2..6, mp41, mp42, avc1, dash, M4V, 3gp4…: the MP4 family


def _mpeg_audio(head: bytes) -> MediaType:
    b1, b2 = head[1], head[2]
    if b1 & 0xF6 == 0xF0:  # sync + layer 00: an ADTS header
        raise MediaError("raw AAC (ADTS) audio: not supported (put it in an M4A container)")
    version, layer = (b1 >> 3) & 3, (b1 >> 1) & 3
    bitrate, rate = b2 >> 4, (b2 >> 2) & 3
    if version == 1 or layer == 0 or bitrate == 0xF or rate == 3:
        raise MediaError(_unknown(head) + "; it resembles an MPEG audio frame header but is not a valid one")
    return MediaType.MP3


def _id3_end(head: bytes) -> int:
    """Where the audio starts after an ID3v2 tag (its size is four 7-bit 'syncsafe' bytes)."""
    size = 0
    for byte in head[6:10]:
        size = (size << 7) | (byte & 0x7F)
    footer = 10 if head[5] & 0x10 else 0
    return 10 + size + footer


def _matroska(head: bytes) -> MediaType:
    doctype = _ebml_doctype(head)
    if doctype == "webm":
        return MediaType.WEBM
    if doctype == "matroska":
        return MediaType.MKV
    if doctype is None:
        raise MediaError("an EBML file whose header names no DocType (truncated or not Matroska/WebM)")
    raise MediaError(f"an EBML file of DocType {doctype!r}: only Matroska and WebM are supported")


def _ebml_doctype(head: bytes) -> str | None:
    """The DocType (element 0x4282) of an EBML header, or None if it is not in ``head``."""
    size, pos = _vint(head, 4)
    if size is None:
        return None
    end = min(len(head), pos + size)
    while pos < end:
        length = _vint_length(head, pos)
        if length is None:
            return None
        element = int.from_bytes(head[pos:pos + length], "big")
        size, pos = _vint(head, pos + length)
        if size is None:
            return None
        if element == 0x4282:
            return head[pos:pos + size].rstrip(b"\x00").decode("ascii", "replace")
        pos += size
    return None


def _vint_length(data: bytes, pos: int) -> int | None:
    if pos >= len(data) or data[pos] == 0:
        return None
    return 8 - data[pos].bit_length() + 1


def _vint(data: bytes, pos: int) -> tuple[int | None, int]:
    """An EBML variable-length size at ``pos``: (value, position after it)."""
    length = _vint_length(data, pos)
    if length is None or pos + length > len(data):
        return None, pos
    value = int.from_bytes(data[pos:pos + length], "big") & ((1 << (7 * length)) - 1)
    if value == (1 << (7 * length)) - 1:  # "unknown size": runs to the end of what we have
        value = len(data)
    return value, pos + length


def _unknown(head: bytes) -> str:
    sample = head[:12]
    hexed = " ".join(f"{byte:02x}" for byte in sample)
    shown = "".join(chr(byte) if 32 <= byte < 127 else "." for byte in sample)
    printable = sum(32 <= byte < 127 or byte in (9, 10, 13) for byte in head[:512])
    texty = ", which looks like text" if printable >= 0.95 * min(len(head), 512) else ""
    return f'not a recognised media file (starts with {hexed} "{shown}"{texty})'
