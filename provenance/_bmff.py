"""A small, bounded walker over the top-level boxes of an ISO BMFF (MP4) file.

It reads only box headers (and ``mvhd``), so it is safe on hostile input, and answers three
questions for verification: is this a structurally complete MP4, how long is it, and which
top-level boxes carry bytes that the C2PA ``c2pa.hash.bmff.v3`` hash does not cover
(c2pa-rs excludes ``/ftyp``, ``/free``, ``/skip``, ``/mfra`` and its own manifest ``uuid``, so
data can hide in a ``free``/``skip`` box of a file that still reads Trusted).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
UNHASHED_PADDING = frozenset({"free", "skip"})
KNOWN_TOP_LEVEL = frozenset({
    "ftyp", "styp", "moov", "mdat", "free", "skip", "wide", "uuid", "meta", "moof", "mfra", "sidx",
    "ssix", "emsg", "prft", "pdin", "udta", "pnot",
})
MAX_BOXES = 100_000


class BmffError(ValueError):
    """The file is not a structurally valid MP4 (message says why)."""


@dataclass(frozen=True)
class Box:
    type: str
    offset: int
    size: int
    header: int
    usertype: bytes | None = None

    @property
    def payload_bytes(self) -> int:
        return self.size - self.header

    @property
    def is_c2pa_manifest(self) -> bool:
        return self.type == "uuid" and self.usertype == C2PA_UUID

    def to_dict(self) -> dict[str, object]:
        return {
            "type": self.type, "offset": self.offset, "size": self.size, "payload_bytes": self.payload_bytes,
        }


@dataclass(frozen=True)
class Layout:
    boxes: list[Box]
    file_size: int
    duration_ms: int | None

    @property
    def hidden(self) -> list[Box]:
        """``free``/``skip`` boxes with a payload: bytes outside the C2PA hash."""
        return [b for b in self.boxes if b.type in UNHASHED_PADDING and b.payload_bytes > 0]

    @property
    def unknown(self) -> list[Box]:
        """Top-level boxes of a type MP4 does not define (hashed, but unusual)."""
        return [b for b in self.boxes if b.type not in KNOWN_TOP_LEVEL]

    @property
    def has_c2pa_box(self) -> bool:
        return any(b.is_c2pa_manifest for b in self.boxes)


def read_layout(path: Path) -> Layout:
    """Walk ``path``'s top-level boxes; raise :class:`BmffError` unless it is a complete MP4."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            raise BmffError("the file is empty")
        boxes = _walk(handle, size)
        types = {b.type for b in boxes}
        if "moov" not in types:
            raise BmffError("not a complete MP4: there is no 'moov' box (truncated or not a movie)")
        if "mdat" not in types and "moof" not in types:
            raise BmffError("not a complete MP4: there is no media data ('mdat')")
        moov = next(b for b in boxes if b.type == "moov")
        duration = _movie_duration_ms(handle, moov)
    return Layout(boxes=boxes, file_size=size, duration_ms=duration)


def _walk(handle: BinaryIO, file_size: int) -> list[Box]:
    boxes: list[Box] = []
    offset = 0
    while offset < file_size:
        if len(boxes) >= MAX_BOXES:
            raise BmffError(f"more than {MAX_BOXES} top-level boxes")
        handle.seek(offset)
        head = handle.read(16)
        if len(head) < 8:
            if offset == 0:
                raise BmffError(f"not an MP4: only {file_size} bytes")
            raise BmffError(f"truncated: {file_size - offset} stray bytes at offset {offset}")
        size = int.from_bytes(head[:4], "big")
        raw_type = head[4:8]
        if not all(0x20 <= c < 0x7F for c in raw_type):
            where = "at the start" if offset == 0 else f"at offset {offset}"
            raise BmffError(f"not an MP4: no valid box header {where}")
        kind = raw_type.decode("ascii")
        if offset == 0 and kind not in KNOWN_TOP_LEVEL:
            raise BmffError(f"not an MP4: the file starts with {kind!r}, not an 'ftyp' box")
        header = 8
        if size == 1:
            if len(head) < 16:
                raise BmffError(f"truncated: the '{kind}' box header at offset {offset} is cut off")
            size = int.from_bytes(head[8:16], "big")
            header = 16
        elif size == 0:
            size = file_size - offset  # extends to the end of the file
        usertype = None
        if kind == "uuid":
            handle.seek(offset + header)
            usertype = handle.read(16)
            header += 16
        if size < header:
            raise BmffError(f"corrupt MP4: the '{kind}' box at offset {offset} declares {size} bytes")
        if offset + size > file_size:
            raise BmffError(
                f"truncated: the '{kind}' box at offset {offset} needs {size} bytes, "
                f"only {file_size - offset} remain"
            )
        boxes.append(Box(type=kind, offset=offset, size=size, header=header, usertype=usertype))
        offset += size
    return boxes


def _movie_duration_ms(handle: BinaryIO, moov: Box) -> int | None:
    """Duration from ``moov/mvhd`` in milliseconds, or None if absent or unreadable."""
    offset, end = moov.offset + moov.header, moov.offset + moov.size
    while offset + 8 <= end:
        handle.seek(offset)
        head = handle.read(8)
        size, kind = int.from_bytes(head[:4], "big"), head[4:8]
        if size < 8 or offset + size > end:
            return None
        if kind == b"mvhd":
            body = handle.read(min(size - 8, 32))
            if len(body) < 20:
                return None
            if body[0] == 1:
                if len(body) < 32:
                    return None
                timescale = int.from_bytes(body[20:24], "big")
                duration = int.from_bytes(body[24:32], "big")
            else:
                timescale = int.from_bytes(body[12:16], "big")
                duration = int.from_bytes(body[16:20], "big")
            return round(duration * 1000 / timescale) if timescale else None
        offset += size
    return None
