"""Limits on untrusted media, checked before anything is decoded.

>>> from media.limits import Limits
>>> limits = Limits.image()
>>> limits.max_bytes // 2**20, limits.max_side, limits.max_pixels
(25, 8192, 16777216)
>>> limits.check_frame_size(7000, height=7000, what="image")
Traceback (most recent call last):
...
media.errors.MediaTooLargeError: image is 7000x7000 (49.0 megapixels), over the limit of 16.8 megapixels
>>> Limits.audio().check_sample_rate(768_000)
Traceback (most recent call last):
...
media.errors.MediaError: the audio's sample rate is 768000 Hz; 8000 to 192000 Hz are supported

The readers check the file size first (``stat``), then the dimensions and duration the
container header declares (before a frame is decoded: safe against decompression bombs), and
they keep counting while decoding, since a hostile header can lie.
"""

from __future__ import annotations

from dataclasses import dataclass

from media.errors import MediaError, MediaTooLargeError

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What one upload may hold. Readers default to the named constructor for their kind.

    ``max_pixels`` and ``max_side`` apply to each frame or image; ``max_duration_s`` and
    ``max_frames`` to video and audio (image readers do not look at them); ``max_channels`` and
    the sample rates to audio tracks (checked from the header and again on every decoded frame).
    """

    max_bytes: int = 512 * MiB
    max_pixels: int = 4096 * 4096
    max_side: int = 4096
    max_duration_s: float = 600.0
    max_frames: int = 36_000
    max_channels: int = 8
    min_sample_rate: int = 8_000
    max_sample_rate: int = 192_000

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "max_side", "max_duration_s", "max_frames", "max_channels",
                     "min_sample_rate", "max_sample_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be positive, not {getattr(self, name)!r}")
        if self.min_sample_rate > self.max_sample_rate:
            raise ValueError(f"Limits.min_sample_rate ({self.min_sample_rate}) is above max_sample_rate "
                             f"({self.max_sample_rate})")

    @classmethod
    def video(cls) -> Limits:
        """Uploaded or analysed clips: 512 MiB, 4096 pixels a side, 10 minutes, 36,000 frames."""
        return cls(max_bytes=512 * MiB, max_pixels=4096 * 4096, max_side=4096, max_duration_s=600.0,
                   max_frames=36_000)

    @classmethod
    def statement(cls) -> Limits:
        """Consent statement recordings: 256 MiB, at most 4K UHD (3840 a side, 8.3 megapixels).

        The statement checks decode its frames scaled down to at most 1920 a side (2.1 megapixels
        at 16:9). The duration limit is the video one: the statement's own, shorter limit is
        checked with its own message.
        """
        return cls(max_bytes=256 * MiB, max_pixels=3840 * 2160, max_side=3840, max_duration_s=600.0,
                   max_frames=36_000)

    @classmethod
    def image(cls) -> Limits:
        """Portraits and reference photos: 25 MiB, 16.8 megapixels (4096²), 8192 pixels a side.

        A 16.8-megapixel RGB image decodes to 50 MiB; the old 50-megapixel limit let a 156 KiB PNG
        of 7000×7000 decode to 729 MiB.
        """
        return cls(max_bytes=25 * MiB, max_pixels=4096 * 4096, max_side=8192, max_duration_s=1.0,
                   max_frames=1)

    @classmethod
    def audio(cls) -> Limits:
        """Speech and consent statements: 100 MiB, 10 minutes."""
        return cls(max_bytes=100 * MiB, max_pixels=1, max_side=1, max_duration_s=600.0, max_frames=1)

    def check_bytes(self, size: int) -> None:
        if size > self.max_bytes:
            raise MediaTooLargeError(f"file is {_size(size)}, over the limit of {_size(self.max_bytes)}")

    def check_frame_size(self, width: int, *, height: int, what: str = "video") -> None:
        if max(width, height) > self.max_side:
            raise MediaTooLargeError(
                f"{what} is {width}x{height}, over the limit of {self.max_side} pixels a side"
            )
        if width * height > self.max_pixels:
            raise MediaTooLargeError(
                f"{what} is {width}x{height} ({width * height / 1e6:.1f} megapixels), over the limit of "
                f"{self.max_pixels / 1e6:.1f} megapixels"
            )

    def check_duration(self, seconds: float, *, what: str = "video") -> None:
        if seconds > self.max_duration_s:
            raise MediaTooLargeError(
                f"{what} lasts {seconds:.1f} s, over the limit of {self.max_duration_s:g} s"
            )

    def check_sample_rate(self, rate: int, *, what: str = "the audio") -> None:
        """A refusal (:class:`MediaError`: a format, not a size) outside the supported sample rates."""
        if not self.min_sample_rate <= rate <= self.max_sample_rate:
            raise MediaError(f"{what}'s sample rate is {rate} Hz; {self.min_sample_rate} to "
                             f"{self.max_sample_rate} Hz are supported")

    def check_channels(self, channels: int, *, what: str = "the audio") -> None:
        if channels > self.max_channels:
            raise MediaError(f"{what} has {channels} channels; at most {self.max_channels} are supported "
                             "(mono and stereo are what speech needs)")

    def check_frames(self, count: int, *, at_least: bool = False) -> None:
        """``at_least``: ``count`` frames were found so far (while decoding), there may be more."""
        if count > self.max_frames:
            more = "at least " if at_least else ""
            raise MediaTooLargeError(f"video has {more}{count} frames, over the limit of {self.max_frames}")


def _size(n: int) -> str:
    if n >= MiB:
        return f"{n / MiB:.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n} bytes"
