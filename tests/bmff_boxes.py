"""The top-level box types of an MP4 (ISO-BMFF), read independently of the code under test (a module of its
own: ``conftest`` is not importable by name)."""

from __future__ import annotations


def top_level_boxes(data: bytes) -> list[str]:
    """The types of the top-level ISO-BMFF boxes, in file order (64-bit sizes followed)."""
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset:offset + 4], "big")
        if size == 1:
            size = int.from_bytes(data[offset + 8:offset + 16], "big")
        boxes.append(data[offset + 4:offset + 8].decode("latin-1"))
        if size < 8:
            break
        offset += size
    return boxes
