"""Reading images: JPEG, PNG and WebP as RGB ``uint8`` arrays, upright.

>>> import io
>>> from PIL import Image
>>> from media import read_image
>>> buffer = io.BytesIO()
>>> Image.new("RGBA", (4, 2), (255, 0, 0, 0)).save(buffer, format="PNG")
>>> pixels = read_image(buffer.getvalue())
>>> pixels.shape, pixels.dtype, pixels[0, 0].tolist()
((2, 4, 3), dtype('uint8'), [255, 255, 255])

The type is sniffed from the content and only JPEG, PNG and WebP are decoded (each by its own
Pillow decoder, never by Pillow's guess). The size and dimensions are checked against the
limits before any pixel is decoded. The EXIF orientation is applied; transparency is
composited on white; palette, greyscale, CMYK and 16-bit images are converted to 8-bit RGB.
An embedded ICC profile is not applied: pixels are taken as sRGB. Animated images give their
first frame.
"""

from __future__ import annotations

import io
import logging
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, ImageOps, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

from media._av import source_size_and_kind
from media.errors import MediaError, MediaTooLargeError
from media.limits import Limits
from media.sniff import MediaType

logger = logging.getLogger(__name__)

# Each type's own decoder. Constructing it directly (rather than through Image.open) leaves
# the decompression-bomb check to our Limits, with our message, and touches no global setting.
_DECODERS: dict[MediaType, type[ImageFile.ImageFile]] = {
    MediaType.JPEG: JpegImagePlugin.JpegImageFile,
    MediaType.PNG: PngImagePlugin.PngImageFile,
    MediaType.WEBP: WebPImagePlugin.WebPImageFile,
}
# What Pillow raises on malformed input, besides OSError (truncated files, unknown modes, …).
_PIL_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, KeyError, TypeError,
               ZeroDivisionError)
_SIXTEEN_BIT_GREY = {"I;16", "I;16B", "I;16L", "I;16N", "I"}


def read_image(source: Path | str | bytes, *, limits: Limits | None = None) -> np.ndarray:
    """The image as a contiguous RGB ``uint8`` array of shape (H, W, 3), as it is meant to be seen.

    Raises :class:`MediaTooLargeError` over ``limits`` (default :meth:`Limits.image`) and
    :class:`MediaError` for anything that is not a readable JPEG, PNG or WebP image.
    """
    limits = limits or Limits.image()
    _, kind = source_size_and_kind(source, limits=limits)
    if not kind.is_image:
        raise MediaError(f"this is {kind.description}, not an image (use PNG, JPEG or WebP)")
    try:
        if isinstance(source, bytes):
            return _decode(io.BytesIO(source), kind=kind, limits=limits)
        with open(source, "rb") as handle:
            return _decode(handle, kind=kind, limits=limits)
    except MediaError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own ceiling, should ours be set above it
        raise MediaTooLargeError(f"image is too large to decode safely ({exc})") from exc
    except _PIL_ERRORS as exc:
        raise MediaError(_message(exc, kind=kind)) from exc


def _decode(handle: BinaryIO, *, kind: MediaType, limits: Limits) -> np.ndarray:
    if kind is MediaType.WEBP:  # the WebP decoder allocates its canvas when it is created: check first
        declared = _webp_size(handle.read(30))
        handle.seek(0)
        if declared is not None:
            limits.check_frame_size(declared[0], height=declared[1], what="image")
    with _DECODERS[kind](handle) as image:
        width, height = image.size
        if width <= 0 or height <= 0:
            raise MediaError(f"{kind.description} declares an empty size ({width}x{height})")
        limits.check_frame_size(width, height=height, what="image")
        image.load()
        upright = ImageOps.exif_transpose(image) or image
        return _rgb(upright)


def _webp_size(head: bytes) -> tuple[int, int] | None:
    """The canvas size a WebP header declares (lossy, lossless or extended), or None."""
    chunk = head[12:16]
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":
        return int.from_bytes(head[26:28], "little") & 0x3FFF, int.from_bytes(head[28:30], "little") & 0x3FFF
    if chunk == b"VP8X" and len(head) >= 30:
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _rgb(image: Image.Image) -> np.ndarray:
    if image.mode in _SIXTEEN_BIT_GREY:
        wide = np.asarray(image).astype(np.uint32)
        grey = ((np.clip(wide, 0, 65535) * 255 + 32767) // 65535).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.array(image, dtype=np.uint8)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info


def _message(exc: BaseException, *, kind: MediaType) -> str:
    text = str(exc) or type(exc).__name__
    if "truncated" in text.lower():
        return f"truncated: {kind.description} that ends before all of its pixels ({text})"
    return f"cannot decode {kind.description}: it is corrupt ({text})"
