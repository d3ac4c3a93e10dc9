"""The errors of ``media``: every failure to read or write a media file ends here.

>>> from media.errors import MediaError, MediaTooLargeError
>>> err = MediaTooLargeError("video is 30000x20000, over the limit of 4096 pixels a side")
>>> isinstance(err, MediaError), err.http_status, MediaError("empty file").http_status
(True, 413, 422)

Third-party errors (PyAV, Pillow, NumPy, the operating system) are translated into these at
the package boundary, so a bad or hostile file never surfaces as another exception type.
"""

from __future__ import annotations

from likeness import errors as kinds


class MediaError(kinds.InputError):
    """A file that cannot be read or written as the media it should be: unknown, corrupt, unsupported."""


class MediaTooLargeError(MediaError):
    """A file over the configured :class:`~media.limits.Limits` (bytes, pixels, side, duration, frames)."""

    http_status = 413
