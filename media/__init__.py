"""Media: sniffing, limits and decoding of untrusted audio, images and video (PyAV, Pillow).

>>> from media import Limits, MediaType, sniff_bytes
>>> sniff_bytes(b"RIFF\\x24\\x00\\x00\\x00WAVEfmt ")
<MediaType.WAV: 'wav'>
>>> Limits.video().max_side
4096

Everything a bad or hostile file can cause is a :class:`MediaError` (a
:class:`MediaTooLargeError` when it is over the :class:`Limits`). Writing video is private to
the release path (``provenance.release``) and is not part of this surface. Untrusted files
are decoded through a :class:`Sandbox` (a confined child process), so that a decoder crash, a
memory bomb or a hang fails one call, never the caller's process.
"""

from media.audio import Audio, read_audio
from media.digest import file_sha256
from media.errors import MediaError, MediaTooLargeError
from media.image import read_image
from media.limits import Limits
from media.sandbox import Sandbox
from media.sniff import MediaType, sniff_bytes, sniff_file
from media.video import VideoInfo, iter_frames, probe_video

__all__ = [
    "Audio",
    "Limits",
    "MediaError",
    "MediaTooLargeError",
    "MediaType",
    "Sandbox",
    "VideoInfo",
    "file_sha256",
    "iter_frames",
    "probe_video",
    "read_audio",
    "read_image",
    "sniff_bytes",
    "sniff_file",
]
