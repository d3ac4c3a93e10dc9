"""The one MP4 writer: RGB frames (+ audio) → H.264/AAC MP4 with the index first. Private.

Only ``provenance.release`` may import this module (``tests/provenance/test_release.py``
checks): every video that leaves the system goes through the release path.

>>> import tempfile
>>> from pathlib import Path
>>> import numpy as np
>>> from media import Audio, probe_video
>>> from media._mp4writer import Mp4Writer
>>> path = Path(tempfile.mkdtemp()) / "out.mp4"
>>> tone = Audio(samples=np.zeros((1, 48_000), np.float32), sample_rate=48_000)
>>> with Mp4Writer(path, width=64, height=48, fps=25, audio=tone) as writer:
...     for i in range(25):
...         writer.write(np.full((48, 64, 3), 10 * i, np.uint8))
>>> info = probe_video(path)
>>> info.frame_count, info.video_codec, info.audio_codec
(25, 'h264', 'aac')

Video: libx264, yuv420p, the given CRF and preset, encoder threads. RGB is converted to YUV
4:2:0 by OpenCV (``COLOR_RGB2YUV_I420``: the BT.601 matrix, limited "TV" range), and the
stream is tagged to match — matrix BT.601 (SMPTE 170M), limited range, BT.709 primaries and
the sRGB transfer (the frames are sRGB) — so FFmpeg, PyAV and browsers decode the colours
back as they were. The conversion runs about 7x faster than swscale's, which is why it is
used. Audio: AAC at the audio's own sample rate when AAC supports it (else 48 kHz), mono or
stereo (more channels are mixed to mono), interleaved with the video as it is written, and
cut or padded with silence to the video's duration (frames / fps) when the writer closes.
The ``moov`` index precedes ``mdat`` (``movflags=+faststart``) so players can start at once.

``fragmented=True`` writes a fragmented MP4 instead (``frag_keyframe+empty_moov+default_base_moof``:
``ftyp moov moof mdat … mfra``): an empty ``moov`` (the init segment) then one fragment per
keyframe, the shape Media Source Extensions append. The live release path writes each short
segment this way, so every segment is a self-contained file that plays, signs and reads alone.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import av.container
import cv2
import numpy as np

from media._av import media_error
from media.audio import Audio
from media.errors import MediaError

logger = logging.getLogger(__name__)

PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
AAC_RATES = frozenset({96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025,
                       8_000, 7_350})
AAC_FALLBACK_RATE = 48_000
# Audio is encoded in steps of this many samples as the video advances (keeps them interleaved).
_AUDIO_STEP = 8192
# FFmpeg's AVCOL_* values for the colour tags (see the module docstring).
_SPC_SMPTE170M = 6  # matrix: BT.601
_RANGE_MPEG = 1  # limited range
_PRI_BT709 = 1  # primaries of sRGB
_TRC_IEC61966_2_1 = 13  # the sRGB transfer


class Mp4Writer:
    """Write an H.264 (+ AAC) MP4 frame by frame; use it as a context manager.

    On an exception inside the ``with`` block the file is closed unfinished and the exception
    propagates (the caller deletes the file). Errors from the encoder are :class:`MediaError`.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        width: int,
        height: int,
        fps: int | Fraction,
        crf: int = 20,
        preset: str = "veryfast",
        audio: Audio | None = None,
        fragmented: bool = False,
    ) -> None:
        _check_settings(width=width, height=height, fps=fps, crf=crf, preset=preset)
        self.path = Path(path)
        self.width, self.height = width, height
        self.fps = Fraction(fps)
        self._frame_time_base = 1 / self.fps
        self.frames = 0
        self._closed = False
        self._audio = _prepare_audio(audio) if audio is not None else None
        self._audio_written = 0
        movflags = "+frag_keyframe+empty_moov+default_base_moof" if fragmented else "+faststart"
        try:
            self._container = av.open(str(self.path), mode="w", format="mp4", options={"movflags": movflags})
        except (av.error.FFmpegError, OSError) as exc:
            raise MediaError(f"cannot create {self.path}: {getattr(exc, 'strerror', None) or exc}") from exc
        try:
            self._video = self._add_video(crf=crf, preset=preset)
            self._audio_stream = self._add_audio() if self._audio is not None else None
            self._container.start_encoding()  # opens the encoders and the file now, not at the first frame
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            self._abandon()
            if isinstance(exc, OSError):
                raise MediaError(f"cannot create {self.path}: {exc.strerror or exc}") from exc
            raise media_error(exc, doing="set up", what="the MP4 encoder") from exc

    def _add_video(self, *, crf: int, preset: str) -> av.VideoStream:
        options = {"crf": str(crf), "preset": preset}
        stream = self._container.add_stream("libx264", rate=self.fps, options=options)
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
        stream.thread_type = "AUTO"  # frame threads
        stream.thread_count = 0  # one per core, as x264 decides
        context = stream.codec_context
        context.colorspace, context.color_range = _SPC_SMPTE170M, _RANGE_MPEG
        context.color_primaries, context.color_trc = _PRI_BT709, _TRC_IEC61966_2_1
        return stream

    def _add_audio(self) -> av.AudioStream:
        assert self._audio is not None
        layout = "mono" if self._audio.channels == 1 else "stereo"
        stream = self._container.add_stream("aac", rate=self._audio.sample_rate, layout=layout)
        stream.bit_rate = 96_000 if layout == "mono" else 160_000
        return stream

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abandon()

    @property
    def duration_s(self) -> float:
        """The duration of the frames written so far."""
        return float(self.frames / self.fps)

    def write(self, frame: np.ndarray) -> None:
        """Append one RGB ``uint8`` frame of shape (height, width, 3)."""
        if self._closed:
            raise MediaError("the MP4 writer is closed")
        shape = (self.height, self.width, 3)
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.shape != shape:
            got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise MediaError(f"frame {self.frames} is {got}; the video takes uint8 frames of shape {shape}")
        yuv: np.ndarray = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2YUV_I420)
        video_frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        video_frame.pts = self.frames
        video_frame.time_base = self._frame_time_base
        try:
            self._container.mux(self._video.encode(video_frame))
            self.frames += 1
            if self._audio is not None:
                self._write_audio(until=self._audio_samples_for(self.frames), final=False)
        except (av.error.FFmpegError, ValueError) as exc:
            raise media_error(exc, doing="encode", what=f"frame {self.frames}") from exc

    def close(self) -> None:
        """Flush the encoders, cut or pad the audio to the video's duration, and finish the file."""
        if self._closed:
            return
        if self.frames == 0:
            self._abandon()
            raise MediaError("no frames were written: an MP4 needs at least one")
        try:
            self._container.mux(self._video.encode(None))
            if self._audio is not None:
                self._write_audio(until=self._audio_samples_for(self.frames), final=True)
            self._container.close()
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            self._abandon()
            raise media_error(exc, doing="finish", what=str(self.path)) from exc
        self._closed = True
        logger.debug("wrote %s: %d frames at %s fps, audio %s", self.path, self.frames, self.fps,
                     "yes" if self._audio is not None else "no")

    def _abandon(self) -> None:
        """Close the container without finishing the streams (the file is left for the caller to delete)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._container.close()
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            logger.debug("closing the abandoned %s: %s", self.path, exc)

    def _audio_samples_for(self, frames: int) -> int:
        assert self._audio is not None
        return round(frames * self._audio.sample_rate / self.fps)

    def _write_audio(self, *, until: int, final: bool) -> None:
        """Encode the audio up to sample ``until``; at the end, pad with silence and flush."""
        assert self._audio is not None
        assert self._audio_stream is not None
        samples, stream = self._audio.samples, self._audio_stream
        while until - self._audio_written >= (_AUDIO_STEP if not final else 1):
            start = self._audio_written
            stop = min(until, start + _AUDIO_STEP)
            chunk = samples[:, start:stop]
            missing = stop - start - chunk.shape[1]
            if missing > 0:  # the audio ended before the video: silence
                chunk = np.concatenate([chunk, np.zeros((chunk.shape[0], missing), np.float32)], axis=1)
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(chunk), format="fltp", layout=stream.layout.name
            )
            frame.sample_rate = self._audio.sample_rate
            frame.pts = start
            frame.time_base = Fraction(1, self._audio.sample_rate)
            self._container.mux(stream.encode(frame))
            self._audio_written = stop
        if final:
            self._container.mux(stream.encode(None))


def _check_settings(*, width: int, height: int, fps: int | Fraction, crf: int, preset: str) -> None:
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise MediaError(f"frame size {width}x{height} must be positive and even for H.264 4:2:0")
    if not Fraction(fps) > 0:
        raise MediaError(f"fps must be positive, not {fps}")
    if not 0 <= crf <= 51:
        raise MediaError(f"crf must be in 0..51, not {crf}")
    if preset not in PRESETS:
        raise MediaError(f"unknown x264 preset {preset!r} (one of {', '.join(PRESETS)})")


def _prepare_audio(audio: Audio) -> Audio:
    """Mono or stereo, at a rate AAC supports, clipped to [-1, 1]."""
    if audio.channels > 2:
        audio = audio.to_mono()
    if audio.sample_rate not in AAC_RATES:
        audio = audio.resample(AAC_FALLBACK_RATE)
    return Audio(samples=np.clip(audio.samples, -1.0, 1.0), sample_rate=audio.sample_rate)
