"""Opening untrusted input with PyAV, and turning PyAV's errors into :class:`MediaError`.

>>> import io
>>> from media._av import media_error
>>> import av
>>> try:
...     av.open(io.BytesIO(b"not a video"), format="mov")
... except av.error.FFmpegError as exc:
...     print(media_error(exc, doing="open", what="an MP4 video"))
cannot open an MP4 video: it is corrupt or truncated (Invalid data found when processing input)

Every file is opened with the demuxer its sniffed type names (never FFmpeg's own guess), from a
path or from memory; :func:`source_size_and_kind` checks the size limit before anything is read.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import av
import av.container

from media.errors import MediaError, MediaTooLargeError
from media.limits import Limits
from media.sniff import MediaType, sniff_bytes, sniff_file

logger = logging.getLogger(__name__)

Source = Path | str | bytes

# The FFmpeg demuxer for each container, so FFmpeg never probes for another one.
DEMUXERS = {
    MediaType.MP4: "mov",
    MediaType.MOV: "mov",
    MediaType.M4A: "mov",
    MediaType.MKV: "matroska",
    MediaType.WEBM: "matroska",
    MediaType.WAV: "wav",
    MediaType.MP3: "mp3",
    MediaType.FLAC: "flac",
    MediaType.OGG: "ogg",
}
# Only plain files: a container must not make FFmpeg open other files or URLs.
_INPUT_OPTIONS = {"protocol_whitelist": "file"}


def source_size_and_kind(source: Source, *, limits: Limits) -> tuple[int, MediaType]:
    """The size (checked against ``limits`` before anything is read) and sniffed type of a source."""
    if isinstance(source, bytes):
        size = len(source)
        limits.check_bytes(size)
        return size, sniff_bytes(source)
    try:
        size = Path(source).stat().st_size
    except OSError as exc:
        raise MediaError(f"cannot read {source}: {exc.strerror or exc}") from exc
    if size == 0:
        raise MediaError("empty file")
    limits.check_bytes(size)
    return size, sniff_file(source)


def open_input(source: Source, *, kind: MediaType) -> av.container.InputContainer:
    """Open ``source`` for reading with the demuxer of ``kind``; errors become :class:`MediaError`."""
    target: str | io.BytesIO = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    try:
        return av.open(
            target, mode="r", format=DEMUXERS[kind], options=dict(_INPUT_OPTIONS), metadata_errors="replace"
        )
    except av.error.FFmpegError as exc:
        raise media_error(exc, doing="open", what=kind.description) from exc
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise MediaError(f"cannot open {kind.description}: {exc}") from exc


def media_error(exc: BaseException, *, doing: str, what: str) -> MediaError:
    """A :class:`MediaError` saying what went wrong while ``doing`` (open, decode, encode) ``what``."""
    if isinstance(exc, av.error.FFmpegError):
        text = exc.strerror or str(exc)
        if isinstance(exc, av.error.InvalidDataError | av.error.EOFError):
            return MediaError(f"cannot {doing} {what}: it is corrupt or truncated ({text})")
        if isinstance(exc, av.error.DecoderNotFoundError | av.error.PatchWelcomeError):
            return MediaError(f"cannot {doing} {what}: its codec is not supported here ({text})")
        if isinstance(exc, av.error.MemoryError):  # FFmpeg's ENOMEM: in the sandbox, its memory limit
            return MediaTooLargeError(f"cannot {doing} {what}: it needs more memory than allowed ({text})")
        return MediaError(f"cannot {doing} {what}: {text}")
    return MediaError(f"cannot {doing} {what}: {exc}")
