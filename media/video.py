"""Reading video: what a clip is (:func:`probe_video`) and its frames as RGB arrays (:func:`iter_frames`).

>>> import tempfile
>>> from fractions import Fraction
>>> from pathlib import Path
>>> import av, numpy as np
>>> from media import iter_frames, probe_video
>>> path = Path(tempfile.mkdtemp()) / "clip.mp4"
>>> with av.open(str(path), mode="w") as out:
...     stream = out.add_stream("libx264", rate=25)
...     stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
...     for i in range(10):
...         frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * i, np.uint8), format="rgb24")
...         out.mux(stream.encode(frame))
...     out.mux(stream.encode())
>>> info = probe_video(path)
>>> (info.width, info.height, info.fps, info.frame_count, info.video_codec, info.has_audio)
(64, 48, 25.0, 10, 'h264', False)
>>> frames = list(iter_frames(path, every=3))
>>> len(frames), frames[0].shape, frames[0].dtype
(4, (48, 64, 3), dtype('uint8'))
>>> next(iter_frames(path, max_side=32)).shape    # scaled down while converting to RGB
(24, 32, 3)

Frames come out as they are meant to be displayed: a rotation in the container's display
matrix (phones) is applied, and :class:`VideoInfo` reports the displayed width and height.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.container
import av.video.stream
import numpy as np

from media._av import media_error, open_input, source_size_and_kind
from media.errors import MediaError
from media.limits import Limits
from media.sniff import MediaType

logger = logging.getLogger(__name__)

# How many packets probe_video reads at most to find the first frame (for its rotation).
_ROTATION_PACKETS = 64


@dataclass(frozen=True)
class VideoInfo:
    """What a clip's container says, checked against the limits; nothing was decoded but one frame.

    ``width`` and ``height`` are as displayed (after ``rotation``, the counter-clockwise turn in
    degrees that :func:`iter_frames` applies). ``frame_count`` comes from the container, or is
    estimated as ``duration_s * fps`` when the container does not say.
    """

    width: int
    height: int
    fps: float
    frame_count: int
    duration_s: float
    video_codec: str
    audio_codec: str | None
    has_audio: bool
    rotation: int = 0
    container: MediaType = MediaType.MP4


def probe_video(path: Path | str, *, limits: Limits | None = None) -> VideoInfo:
    """Describe the video at ``path`` without decoding it (one frame is decoded, for its rotation).

    Raises :class:`MediaTooLargeError` over ``limits`` (default :meth:`Limits.video`) and
    :class:`MediaError` for anything that is not a readable video.
    """
    limits = limits or Limits.video()
    kind = _video_kind(path, limits=limits)
    container = open_input(path, kind=kind)
    try:
        stream = _video_stream(container)
        width, height, fps, frames, duration = _header(container, stream, limits=limits)
        video_codec = stream.codec_context.name
        audio = container.streams.audio[0] if container.streams.audio else None
        audio_codec = None
        if audio is not None:
            audio_codec = audio.codec_context.name if audio.codec_context is not None else "unknown"
        rotation = _first_frame_rotation(container, stream)
    finally:
        container.close()
    if duration is None or (fps <= 0 and not frames):
        # no duration (a live WebM, a truncated file) or no frame rate: count the packets
        frames, duration = _count_packets(path, kind=kind, fps=fps, limits=limits)
    if fps <= 0 and frames and duration:
        fps = frames / duration
    duration = duration if duration is not None else (frames / fps if fps > 0 else 0.0)
    limits.check_duration(duration)
    frame_count = frames or round(duration * fps)
    limits.check_frames(frame_count)
    if rotation % 180:
        width, height = height, width
    return VideoInfo(
        width=width,
        height=height,
        fps=fps,
        frame_count=frame_count,
        duration_s=duration,
        video_codec=video_codec,
        audio_codec=audio_codec,
        has_audio=audio_codec is not None,
        rotation=rotation,
        container=kind,
    )


def iter_frames(
    path: Path | str,
    *,
    every: int = 1,
    max_frames: int | None = None,
    max_side: int | None = None,
    limits: Limits | None = None,
) -> Iterator[np.ndarray]:
    """Decoded frames as contiguous RGB ``uint8`` arrays of shape (H, W, 3).

    Yields frames 0, ``every``, 2·``every``, … and at most ``max_frames`` of them; a frame larger
    than ``max_side`` pixels a side is scaled down (area average, aspect kept) by the converter
    that makes it RGB, so a full-size RGB copy never exists. The size limit
    and the file type are checked now; the header limits when iteration starts. A corrupt or
    truncated file yields what decodes, then raises :class:`MediaError` (callers may keep what
    they have). The file is closed when the iterator is exhausted, closed or garbage-collected.
    """
    if every < 1:
        raise ValueError(f"every must be at least 1, not {every}")
    if max_frames is not None and max_frames < 0:
        raise ValueError(f"max_frames must not be negative, not {max_frames}")
    if max_side is not None and max_side < 2:
        raise ValueError(f"max_side must be at least 2, not {max_side}")
    limits = limits or Limits.video()
    kind = _video_kind(path, limits=limits)
    return _frames(path, kind=kind, every=every, max_frames=max_frames, max_side=max_side, limits=limits)


def _frames(
    path: Path | str, *, kind: MediaType, every: int, max_frames: int | None, max_side: int | None,
    limits: Limits,
) -> Iterator[np.ndarray]:
    if max_frames == 0:
        return
    container = open_input(path, kind=kind)
    decoded = yielded = 0
    try:
        stream = _video_stream(container)
        width, height, *_ = _header(container, stream, limits=limits)
        stream.thread_type = "AUTO"
        broken = False
        try:
            for packet in container.demux(stream):
                # A packet cut short by the end of the file (or damaged): decode no further, flush.
                broken = packet.is_corrupt
                for frame in stream.decode(None) if broken else packet.decode():
                    decoded += 1
                    if decoded > limits.max_frames:
                        limits.check_frames(decoded, at_least=True)
                    if (decoded - 1) % every:
                        continue
                    if (frame.width, frame.height) != (width, height):  # the header may lie
                        limits.check_frame_size(frame.width, height=frame.height)
                        width, height = frame.width, frame.height
                    yield _rgb(frame, max_side=max_side)
                    yielded += 1
                    if max_frames is not None and yielded >= max_frames:
                        return
                if broken:
                    break
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            logger.debug("decoding stopped after %d frames: %s", decoded, exc)
            raise media_error(exc, doing="decode", what=f"frame {decoded + 1} of {kind.description}") from exc
        if broken:
            raise MediaError(f"truncated or corrupt: the video data breaks off after frame {decoded}")
        if decoded == 0:
            raise MediaError(f"{kind.description} has a video track but no frame could be decoded")
    finally:
        container.close()


def _rgb(frame: av.VideoFrame, *, max_side: int | None = None) -> np.ndarray:
    size = scaled_size(frame.width, height=frame.height, max_side=max_side)
    if size == (frame.width, frame.height):
        array: np.ndarray = frame.to_ndarray(format="rgb24")
    else:
        array = frame.to_ndarray(format="rgb24", width=size[0], height=size[1], interpolation="AREA")
    turns = _quarter_turns(frame.rotation)
    if turns:
        array = np.rot90(array, turns)
    return np.ascontiguousarray(array)


def scaled_size(width: int, *, height: int, max_side: int | None) -> tuple[int, int]:
    """``width`` x ``height`` scaled down (aspect kept, rounded) so that neither side passes ``max_side``."""
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, min(max_side, round(width * scale))), max(1, min(max_side, round(height * scale)))


def _quarter_turns(rotation: float) -> int:
    """Counter-clockwise quarter turns for a display-matrix rotation in degrees."""
    return round(rotation / 90) % 4


def _video_kind(path: Path | str, *, limits: Limits) -> MediaType:
    _, kind = source_size_and_kind(path, limits=limits)
    if not kind.is_video:
        raise MediaError(f"this is {kind.description}, not a video")
    return kind


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    if not container.streams.video:
        holds = " (it holds only audio)" if container.streams.audio else ""
        raise MediaError(f"the file has no video track{holds}")
    stream = container.streams.video[0]
    if stream.codec_context is None:
        raise MediaError("the video track's codec is unknown or not supported (or its header is corrupt)")
    return stream


def _header(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, *, limits: Limits
) -> tuple[int, int, float, int, float | None]:
    """Width, height, fps, frame count (0: unknown) and duration (None: unknown), checked against limits."""
    context = stream.codec_context
    width, height = context.width, context.height
    if width <= 0 or height <= 0:
        raise MediaError("the video track declares no frame size: the file is corrupt or truncated")
    limits.check_frame_size(width, height=height)
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate and 0 < rate <= 1000 else 0.0
    if fps >= 120 and stream.time_base and abs(fps * float(stream.time_base) - 1.0) < 1e-6:
        # No frame rate in the header (a browser's MediaRecorder WebM): FFmpeg then reports the time
        # base's tick rate (1000 for WebM's milliseconds). Unknown; the packets tell it below.
        fps = 0.0
    duration: float | None = None
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / av.time_base
    if duration is not None:
        limits.check_duration(duration)
    frames = max(0, stream.frames or 0)
    limits.check_frames(frames)
    return width, height, fps, frames, duration


def _first_frame_rotation(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    """The display rotation carried by the first decoded frame (0 if none decodes quickly)."""
    try:
        for index, packet in enumerate(container.demux(stream)):
            for frame in packet.decode():
                return _quarter_turns(frame.rotation) * 90
            if index >= _ROTATION_PACKETS:
                break
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        logger.debug("no first frame for the rotation: %s", exc)
    return 0


def _count_packets(
    path: Path | str, *, kind: MediaType, fps: float, limits: Limits
) -> tuple[int, float | None]:
    """Frame count and duration from the packets themselves, for containers without an index."""
    container = open_input(path, kind=kind)
    count, end = 0, None
    try:
        stream = _video_stream(container)
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            count += 1
            limits.check_frames(count, at_least=True)
            if packet.pts is not None and packet.time_base:
                stop = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                end = stop if end is None else max(end, stop)
                limits.check_duration(end)
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        logger.debug("packet count stopped at %d: %s", count, exc)
    finally:
        container.close()
    if end is None and fps > 0:
        end = count / fps
    return count, end
