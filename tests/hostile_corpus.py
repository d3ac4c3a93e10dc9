"""A corpus of hostile and odd media, made at test time: what an attacker uploads to every public route.

>>> from hostile_corpus import wav_header_bytes
>>> data = wav_header_bytes(channels=16, rate=8_000, seconds=0.01)
>>> data[:4], int.from_bytes(data[22:24], "little")
(b'RIFF', 16)

Each item is small on disk (the largest is a few hundred KiB) and is one of:

* audio with every channel count 1–16 (WAV written by hand, so any count and layout is possible;
  AAC/M4A, FLAC, Opus and MP4 tracks with 6 and 8 channels, the layouts that crash PyAV 18.1's
  ``to_ndarray``), odd and absurd sample rates (1 Hz to 1 MHz);
* images whose headers declare huge dimensions with tiny files (PNG bombs of 7000² and 20000²,
  a JPEG declaring 65,000², a WebP declaring 16,000²), grayscale-16 and palette oddities;
* videos at 4096² and beyond in a few KiB, 1×1 pixel, hours of frames at 1 fps, 8-channel audio tracks;
* very long durations in tiny files (a WAV header declaring 4 GB, an hour of FLAC silence);
* truncated and garbled copies of valid files of every kind.

Items are made with the ``ffmpeg`` CLI (as an outsider would) and by hand where ffmpeg refuses.
``kind`` says which upload field the item is meant for (``image``, ``audio``, ``video``); routes
get every item regardless, since an attacker does not respect field names.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Item:
    name: str
    data: bytes
    kind: str  # image | audio | video
    filename: str
    content_type: str


def wav_header_bytes(*, channels: int, rate: int, seconds: float, bits: int = 16,
                     declared_bytes: int | None = None) -> bytes:
    """A PCM WAV (WAVE_FORMAT_EXTENSIBLE above 2 channels) of noise; ``declared_bytes`` lies about the data size."""
    frames = max(1, int(rate * seconds))
    rng = np.random.default_rng(channels * 1000 + rate % 997)
    samples = (rng.standard_normal(frames * channels) * 3000).clip(-32768, 32767).astype("<i2").tobytes()
    block = channels * bits // 8
    if channels > 2:
        mask = (1 << min(channels, 18)) - 1
        fmt = struct.pack("<HHIIHHHHI16s", 0xFFFE, channels, rate, rate * block, block, bits, 22, bits, mask,
                          b"\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71")
    else:
        fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, bits)
    size = len(samples) if declared_bytes is None else declared_bytes
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + samples
    riff = min(0xFFFFFFFF, len(body) if declared_bytes is None else declared_bytes + 36)
    return b"RIFF" + struct.pack("<I", riff) + body


def png_bomb(*, width: int, height: int, truncate: bool = False) -> bytes:
    """A valid PNG of ``width`` × ``height`` black pixels, compressed to a few hundred KiB at most."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    compressor = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * width  # filter byte + grayscale 8-bit
    parts = []
    rows = height if not truncate else min(height, 64)
    for _ in range(rows):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts))
    return out if truncate else out + chunk(b"IEND", b"")


def jpeg_declaring(*, width: int, height: int) -> bytes:
    """A small real JPEG whose SOF0 header is rewritten to declare ``width`` × ``height``."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (128, 64, 32)).save(buffer, format="JPEG", quality=80)
    data = bytearray(buffer.getvalue())
    at = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, at + 5, height, width)
    return bytes(data)


def _ffmpeg(args: list[str], out: Path) -> bytes | None:
    """Run the ffmpeg CLI; None when this ffmpeg cannot make the item (the corpus then goes without it)."""
    ran = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args, str(out)],
                         capture_output=True, timeout=120)
    if ran.returncode != 0 or not out.exists():
        return None
    return out.read_bytes()


def _garbled(data: bytes, *, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    damaged = bytearray(data)
    for _ in range(24):
        damaged[int(rng.integers(0, len(damaged)))] = int(rng.integers(0, 256))
    return bytes(damaged)


def build_corpus(work: Path, *, valid_video: bytes | None = None) -> list[Item]:
    """The corpus (see the module docstring), written under ``work`` and returned as bytes."""
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("the hostile-media corpus needs the ffmpeg CLI (scripts/setup installs it)")
    work.mkdir(parents=True, exist_ok=True)
    items: list[Item] = []

    def add(name: str, data: bytes | None, kind: str, filename: str, content_type: str) -> None:
        if data is not None:
            items.append(Item(name=name, data=data, kind=kind, filename=filename, content_type=content_type))

    # audio: every channel count, absurd rates, lies about length
    for channels in range(1, 17):
        add(f"wav-{channels}ch", wav_header_bytes(channels=channels, rate=16_000, seconds=0.5), "audio",
            "speech.wav", "audio/wav")
    for rate in (1, 7, 4_000, 11_025, 96_000, 384_000, 1_000_000):
        add(f"wav-{rate}hz", wav_header_bytes(channels=1, rate=rate, seconds=0.5 if rate <= 96_000 else 0.05),
            "audio", "speech.wav", "audio/wav")
    add("wav-declares-4gb", wav_header_bytes(channels=2, rate=48_000, seconds=0.2, declared_bytes=0xFFFFFF00),
        "audio", "speech.wav", "audio/wav")
    noise = ["-f", "lavfi", "-i", "anoisesrc=d=0.6:a=0.2:r=48000"]
    add("m4a-7.1", _ffmpeg([*noise, "-af", "aformat=channel_layouts=7.1", "-c:a", "aac"], work / "71.m4a"),
        "audio", "speech.m4a", "audio/mp4")
    add("m4a-5.1", _ffmpeg([*noise, "-af", "aformat=channel_layouts=5.1", "-c:a", "aac"], work / "51.m4a"),
        "audio", "speech.m4a", "audio/mp4")
    add("flac-8ch", _ffmpeg([*noise, "-af", "aformat=channel_layouts=octagonal", "-c:a", "flac"],
                            work / "8.flac"), "audio", "speech.flac", "audio/flac")
    add("ogg-opus-8ch", _ffmpeg([*noise, "-af", "aformat=channel_layouts=7.1", "-c:a", "libopus",
                                 "-mapping_family", "1"], work / "8.ogg"), "audio", "speech.ogg", "audio/ogg")
    add("flac-1h-silence", _ffmpeg(["-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "3600", "-c:a", "flac"],
                                   work / "long.flac"), "audio", "speech.flac", "audio/flac")
    valid_wav = wav_header_bytes(channels=1, rate=16_000, seconds=1.0)
    for cut in (12, 44, len(valid_wav) // 2):
        add(f"wav-truncated-{cut}", valid_wav[:cut], "audio", "speech.wav", "audio/wav")
    m4a = _ffmpeg([*noise, "-ac", "1", "-c:a", "aac"], work / "ok.m4a")
    if m4a is not None:
        add("m4a-truncated", m4a[: len(m4a) // 3], "audio", "speech.m4a", "audio/mp4")
        add("m4a-garbled", _garbled(m4a, seed=1), "audio", "speech.m4a", "audio/mp4")

    # images: bombs and oddities
    add("png-7000sq", png_bomb(width=7000, height=7000), "image", "portrait.png", "image/png")
    add("png-20000sq-truncated", png_bomb(width=20000, height=20000, truncate=True), "image", "portrait.png",
        "image/png")
    add("png-1x60000", png_bomb(width=1, height=60000), "image", "portrait.png", "image/png")
    add("jpeg-declares-65000sq", jpeg_declaring(width=65000, height=65000), "image", "portrait.jpg", "image/jpeg")
    add("jpeg-declares-16000x9000", jpeg_declaring(width=16000, height=9000), "image", "portrait.jpg",
        "image/jpeg")
    add("webp-16000sq", _ffmpeg(["-f", "lavfi", "-i", "color=c=black:s=16000x16000", "-frames:v", "1",
                                 "-c:v", "libwebp"], work / "big.webp"), "image", "portrait.webp", "image/webp")
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((64, 64), np.uint16)).save(buffer, format="PNG")
    add("png-gray16", buffer.getvalue(), "image", "portrait.png", "image/png")
    small = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 100, 50)).save(small, format="JPEG")
    add("jpeg-truncated", small.getvalue()[: len(small.getvalue()) // 2], "image", "portrait.jpg", "image/jpeg")
    add("jpeg-garbled", _garbled(small.getvalue(), seed=2), "image", "portrait.jpg", "image/jpeg")
    add("not-an-image", b"GIF89a" + b"\x00" * 64, "image", "portrait.gif", "image/gif")

    # video: huge frames in tiny files, endless frames, 8-channel tracks, damage
    tone = ["-f", "lavfi", "-i", "sine=f=220:d=2:r=48000"]
    add("mp4-4096sq", _ffmpeg(["-f", "lavfi", "-i", "color=c=black:s=4096x4096:r=25:d=2", *tone, "-c:v", "libx264",
                               "-preset", "ultrafast", "-c:a", "aac", "-shortest"], work / "4096.mp4"),
        "video", "statement.mp4", "video/mp4")
    add("mp4-8192x4320", _ffmpeg(["-f", "lavfi", "-i", "color=c=black:s=8192x4320:r=5:d=1", "-c:v", "libx264",
                                  "-preset", "ultrafast"], work / "8k.mp4"), "video", "statement.mp4", "video/mp4")
    add("mp4-1x1", _ffmpeg(["-f", "lavfi", "-i", "color=c=black:s=2x2:r=25:d=2", *tone, "-c:v", "libx264",
                            "-c:a", "aac", "-shortest"], work / "1x1.mp4"), "video", "statement.mp4", "video/mp4")
    add("mp4-10h-1fps", _ffmpeg(["-f", "lavfi", "-i", "color=c=black:s=16x16:r=1", "-t", "36000", "-c:v", "libx264",
                                 "-preset", "ultrafast", "-g", "100000"], work / "long.mp4"),
        "video", "statement.mp4", "video/mp4")
    add("mp4-8ch-audio", _ffmpeg(["-f", "lavfi", "-i", "color=c=gray:s=128x128:r=25:d=1", *noise,
                                  "-af", "aformat=channel_layouts=7.1", "-c:v", "libx264", "-c:a", "aac",
                                  "-shortest"], work / "8ch.mp4"), "video", "statement.mp4", "video/mp4")
    add("webm-8ch-opus", _ffmpeg(["-f", "lavfi", "-i", "color=c=gray:s=128x128:r=25:d=1", *noise,
                                  "-af", "aformat=channel_layouts=7.1", "-c:v", "libvpx-vp9", "-c:a", "libopus",
                                  "-mapping_family", "1", "-shortest"], work / "8ch.webm"),
        "video", "statement.webm", "video/webm")
    base = valid_video or _ffmpeg(["-f", "lavfi", "-i", "testsrc=s=160x120:r=25:d=1", *tone, "-c:v", "libx264",
                                   "-c:a", "aac", "-shortest"], work / "ok.mp4")
    if base is not None:
        add("mp4-truncated-header", base[:64], "video", "statement.mp4", "video/mp4")
        add("mp4-truncated-half", base[: len(base) // 2], "video", "statement.mp4", "video/mp4")
        add("mp4-garbled", _garbled(base, seed=3), "video", "statement.mp4", "video/mp4")
    add("empty", b"", "video", "statement.mp4", "video/mp4")
    add("zeros", b"\x00" * 4096, "video", "statement.mp4", "video/mp4")
    return items


__all__ = ["Item", "build_corpus", "jpeg_declaring", "png_bomb", "wav_header_bytes"]
