"""Generation ids: 64 random bits, carried in every frame's watermark and in the C2PA manifest.

The watermark id (an int) and the generation id (its printable form) are the same value, so a
watermark read from a stripped file names the generation directly.

>>> from provenance.ids import generation_id_for, watermark_id_for
>>> generation_id_for(0x0123456789ABCDEF)
'gen_0123456789abcdef'
>>> hex(watermark_id_for("gen_0123456789abcdef"))
'0x123456789abcdef'
"""

from __future__ import annotations

import re
import secrets

_PATTERN = re.compile(r"^gen_([0-9a-f]{16})$")


def new_watermark_id() -> int:
    """A fresh random 64-bit id (collision chance ~1 in 2**32 after 2**16 * 2**16 generations)."""
    return secrets.randbits(64)


def generation_id_for(watermark_id: int) -> str:
    if not 0 <= watermark_id < 2**64:
        raise ValueError("a watermark id is a 64-bit unsigned integer")
    return f"gen_{watermark_id:016x}"


def watermark_id_for(generation_id: str) -> int:
    match = _PATTERN.match(generation_id)
    if match is None:
        raise ValueError(f"not a generation id: {generation_id!r} (expected gen_ + 16 hex digits)")
    return int(match.group(1), 16)
