"""Audio as float samples: the :class:`Audio` value and :func:`read_audio` for files and bytes.

>>> import numpy as np
>>> from media import Audio
>>> t = np.arange(16_000, dtype=np.float32) / 16_000
>>> tone = Audio(samples=np.stack([np.sin(2 * np.pi * 440 * t)] * 2), sample_rate=16_000)
>>> tone.channels, tone.duration_s
(2, 1.0)
>>> mono = tone.to_mono().resample(48_000)
>>> mono.samples.shape, mono.sample_rate, mono.samples.dtype
((1, 48000), 48000, dtype('float32'))

:func:`read_audio` reads WAV, MP3, M4A (AAC/ALAC), FLAC, Ogg (Vorbis/Opus) and the audio track
of MP4, MOV, MKV and WebM, from a path or from bytes, after sniffing the content and checking
the limits; decoded samples are clipped to [-1, 1].
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.audio.stream
import av.container
import numpy as np

from media._av import Source, media_error, open_input, source_size_and_kind
from media.errors import MediaError, MediaTooLargeError
from media.limits import Limits
from media.sniff import MediaType, sniff_bytes, sniff_file

logger = logging.getLogger(__name__)

#: More channels than this are refused (a (n, channels) array passed as (channels, n) is caught).
MAX_CHANNELS = 8
MAX_SAMPLE_RATE = 768_000
#: Damaged packets skipped (as FFmpeg does) before a file is refused.
MAX_BAD_PACKETS = 8
_CHUNK = 1 << 16


@dataclass(frozen=True, eq=False)
class Audio:
    """``samples``: float32 of shape (channels, n) in [-1, 1] (1-D input becomes one channel)."""

    samples: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        samples = self.samples
        if not isinstance(samples, np.ndarray):
            raise TypeError(f"Audio.samples must be a numpy array, not {type(samples).__name__}")
        if samples.ndim == 1:
            samples = samples[None, :]
        if samples.ndim != 2 or samples.shape[0] < 1:
            raise ValueError(f"Audio.samples must have shape (channels, n), not {samples.shape}")
        if samples.shape[0] > MAX_CHANNELS:
            raise ValueError(
                f"Audio.samples has shape {samples.shape}: more than {MAX_CHANNELS} channels "
                "(pass (channels, n), not (n, channels))"
            )
        if not np.issubdtype(samples.dtype, np.floating):
            raise ValueError(f"Audio.samples must be floats in [-1, 1], not {samples.dtype}")
        samples = samples.astype(np.float32, copy=False)
        if not np.isfinite(samples).all():
            raise ValueError("Audio.samples contains NaN or infinite values")
        rate = self.sample_rate
        integer = isinstance(rate, int | np.integer) and not isinstance(rate, bool)
        if not integer or not 0 < rate <= MAX_SAMPLE_RATE:
            raise ValueError(f"Audio.sample_rate must be an integer in 1..{MAX_SAMPLE_RATE}, not {rate!r}")
        object.__setattr__(self, "samples", samples)
        object.__setattr__(self, "sample_rate", int(rate))

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def n_samples(self) -> int:
        """Samples per channel."""
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate

    def to_mono(self) -> Audio:
        """The mean of the channels, as one channel."""
        if self.channels == 1:
            return self
        mono = self.samples.mean(axis=0, keepdims=True, dtype=np.float32)
        return Audio(samples=mono, sample_rate=self.sample_rate)

    def resample(self, rate: int) -> Audio:
        """The same sound at ``rate`` samples per second (FFmpeg's resampler, channel by channel)."""
        if rate == self.sample_rate:
            return self
        if not 0 < rate <= MAX_SAMPLE_RATE:
            raise ValueError(f"sample rate must be in 1..{MAX_SAMPLE_RATE}, not {rate}")
        length = round(self.n_samples * rate / self.sample_rate)
        try:
            channels = [_resample_channel(c, rate_in=self.sample_rate, rate_out=rate) for c in self.samples]
        except (av.error.FFmpegError, ValueError) as exc:
            raise media_error(exc, doing="resample", what="the audio") from exc
        return Audio(samples=np.stack([_fit(c, length) for c in channels]), sample_rate=rate)

    def trim_or_pad(self, n_samples: int) -> Audio:
        """Exactly ``n_samples`` per channel: cut at the end, or padded with silence."""
        fitted = np.stack([_fit(c, n_samples) for c in self.samples])
        return Audio(samples=fitted, sample_rate=self.sample_rate)


def read_audio(
    source: Path | str | bytes,
    *,
    sample_rate: int | None = None,
    mono: bool = False,
    limits: Limits | None = None,
) -> Audio:
    """The audio of a file (or of its bytes), at its own or the given ``sample_rate``.

    ``limits`` defaults to :meth:`Limits.audio`, or :meth:`Limits.video` for the audio track of
    a video container. Raises :class:`MediaError` for images, files without an audio track and
    anything that does not decode; :class:`MediaTooLargeError` over the limits.
    """
    if sample_rate is not None and not 0 < sample_rate <= MAX_SAMPLE_RATE:
        raise ValueError(f"sample_rate must be in 1..{MAX_SAMPLE_RATE}, not {sample_rate}")
    if limits is None:
        kind = _sniff(source)
        limits = Limits.video() if kind.is_video else Limits.audio()
    _, kind = source_size_and_kind(source, limits=limits)
    if kind.is_image:
        raise MediaError(f"this is {kind.description}, not audio")
    container = open_input(source, kind=kind)
    try:
        stream = _audio_stream(container, limits=limits)
        samples, rate = _decode(container, stream, kind=kind, sample_rate=sample_rate, limits=limits)
    finally:
        container.close()
    audio = Audio(samples=samples, sample_rate=rate)
    return audio.to_mono() if mono else audio


def _sniff(source: Source) -> MediaType:
    return sniff_bytes(source) if isinstance(source, bytes) else sniff_file(source)


def _audio_stream(container: av.container.InputContainer, *, limits: Limits) -> av.audio.stream.AudioStream:
    if not container.streams.audio:
        holds = " (it holds only video)" if container.streams.video else ""
        raise MediaError(f"the file has no audio track{holds}")
    stream = container.streams.audio[0]
    context = stream.codec_context
    if context is None:
        raise MediaError("the audio track's codec is unknown or not supported (or its header is corrupt)")
    if context.sample_rate <= 0 or context.sample_rate > MAX_SAMPLE_RATE:
        raise MediaError(f"the audio track declares an impossible sample rate ({context.sample_rate})")
    limits.check_sample_rate(context.sample_rate, what="the audio track")
    if context.channels > MAX_CHANNELS:
        raise MediaError(
            f"the audio track has {context.channels} channels; at most {MAX_CHANNELS} are supported"
        )
    limits.check_channels(context.channels, what="the audio track")
    return stream


def _decode(
    container: av.container.InputContainer,
    stream: av.audio.stream.AudioStream,
    *,
    kind: MediaType,
    sample_rate: int | None,
    limits: Limits,
) -> tuple[np.ndarray, int]:
    duration = None
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration and kind.is_audio:
        duration = container.duration / av.time_base
    if duration is not None:
        limits.check_duration(duration, what="audio")
    rate = sample_rate or stream.codec_context.sample_rate
    collected = _Samples(rate=rate, limits=limits)
    bad_packets = 0
    try:
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError as exc:
                # a damaged packet (or a second file's header in joined MP3s): skip it, as FFmpeg does
                bad_packets += 1
                if bad_packets > MAX_BAD_PACKETS:
                    raise MediaError(
                        f"cannot decode the audio of {kind.description}: more than {MAX_BAD_PACKETS} "
                        f"damaged packets ({exc.strerror or exc})"
                    ) from exc
                continue
            for frame in frames:
                collected.add(frame)
        samples = collected.finish()
    except MediaError:
        raise
    except (av.error.FFmpegError, ValueError) as exc:
        raise media_error(exc, doing="decode", what=f"the audio of {kind.description}") from exc
    if bad_packets:
        logger.warning("skipped %d damaged audio packet(s) in %s", bad_packets, kind.description)
    if samples.shape[1] == 0:
        raise MediaError(f"the audio track of {kind.description} holds no samples (corrupt or truncated)")
    return samples, rate


class _Samples:
    """Decoded frames → float32 (channels, n) at one rate and in the first frame's channel layout.

    Frames are resampled to packed float (see :meth:`_take`); the header's sample rate and channel
    count are checked again on every frame, since a stream may change them (joined MP3s).
    """

    def __init__(self, *, rate: int, limits: Limits) -> None:
        self.rate = rate
        self.limits = limits
        self.budget = int(limits.max_duration_s * rate)
        self.chunks: list[np.ndarray] = []
        self.total = 0
        self.layout: av.AudioLayout | None = None
        self.resampler: av.AudioResampler | None = None
        self.signature: tuple[str, str, int] | None = None

    def add(self, frame: av.AudioFrame) -> None:
        if frame.layout.nb_channels > MAX_CHANNELS:
            raise MediaError(f"the audio has {frame.layout.nb_channels} channels; at most {MAX_CHANNELS}")
        self.limits.check_channels(frame.layout.nb_channels)
        self.limits.check_sample_rate(frame.sample_rate)
        signature = (frame.format.name, frame.layout.name, frame.sample_rate)
        if signature != self.signature:  # the first frame, or a change mid-stream (joined MP3s)
            self._flush()
            self.layout = self.layout or frame.layout
            self.resampler = av.AudioResampler(format="flt", layout=self.layout, rate=self.rate)
            self.signature = signature
        assert self.resampler is not None
        for out in self.resampler.resample(frame):
            self._take(out)

    def finish(self) -> np.ndarray:
        self._flush()
        if not self.chunks:
            return np.zeros((1, 0), np.float32)
        samples = np.concatenate(self.chunks, axis=1)  # a copy: the frames' buffers may be read-only
        np.nan_to_num(samples, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
        np.clip(samples, -1.0, 1.0, out=samples)
        return samples

    def _flush(self) -> None:
        if self.resampler is not None:
            for out in self.resampler.resample(None):
                self._take(out)

    def _take(self, frame: av.AudioFrame) -> None:
        # Packed float ("flt"): one plane of interleaved samples, read directly. Never to_ndarray() on
        # planar audio: PyAV 18.1 counts 9 planes for 8 channels and crashes the process reading them.
        channels = frame.layout.nb_channels
        interleaved = np.frombuffer(memoryview(frame.planes[0]), dtype=np.float32, count=frame.samples * channels)
        array = interleaved.reshape(frame.samples, channels).T.copy()
        self.chunks.append(array)
        self.total += array.shape[1]
        if self.total > self.budget:
            raise MediaTooLargeError(f"audio lasts more than {self.limits.max_duration_s:g} s, the limit")


def _resample_channel(channel: np.ndarray, *, rate_in: int, rate_out: int) -> np.ndarray:
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate_out)
    time_base = Fraction(1, rate_in)
    pieces: list[np.ndarray] = []
    for start in range(0, channel.shape[0], _CHUNK):
        chunk = np.ascontiguousarray(channel[start:start + _CHUNK])[None, :]
        frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        frame.sample_rate = rate_in
        frame.pts = start
        frame.time_base = time_base
        pieces.extend(out.to_ndarray()[0] for out in resampler.resample(frame))
    pieces.extend(out.to_ndarray()[0] for out in resampler.resample(None))
    return np.concatenate(pieces).astype(np.float32, copy=False) if pieces else np.zeros(0, np.float32)


def _fit(channel: np.ndarray, length: int) -> np.ndarray:
    if channel.shape[0] >= length:
        return channel[:length]
    return np.concatenate([channel, np.zeros(length - channel.shape[0], np.float32)])
