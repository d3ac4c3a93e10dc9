"""Find data hidden in the unsigned padding of a C2PA claim signature.

c2pa-rs reserves room for the COSE signature (≈11.8 kB for a callback signer, to fit a
time-stamp) and fills the unused part with a zero ``pad`` byte string in the COSE *unprotected*
header. Nothing signs or hashes that header: measured with c2pa-python 0.38.1, rewriting those
~10 kB leaves the file Trusted. So a verifier checks that the padding is still zeros.

The scan is deliberately narrow: inside each ``c2pa.signature`` JUMBF box's ``cbor`` content,
the COSE header keys ``"pad"``/``"pad2"`` followed by a byte string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SIGNATURE_LABEL = b"c2pa.signature\x00"
_PAD = re.compile(rb"(?:\x63pad|\x64pad2)([\x40-\x5b])")
MAX_MANIFEST_BYTES = 64 << 20


@dataclass(frozen=True)
class Padding:
    offset: int  # absolute file offset of the padding bytes
    length: int
    nonzero: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "type": "c2pa.signature/pad",
            "offset": self.offset,
            "size": self.length,
            "payload_bytes": self.length,
        }


def signature_padding(manifest_box: bytes, *, base_offset: int) -> list[Padding]:
    """Every COSE ``pad`` byte string inside the ``c2pa.signature`` boxes of a manifest store."""
    found: list[Padding] = []
    start = 0
    while (label := manifest_box.find(_SIGNATURE_LABEL, start)) != -1:
        start = label + len(_SIGNATURE_LABEL)
        cbor = manifest_box.find(b"cbor", start)
        if cbor < 4:
            continue
        box_size = int.from_bytes(manifest_box[cbor - 4:cbor], "big")
        content = manifest_box[cbor + 4:cbor - 4 + box_size]
        for match in _PAD.finditer(content):
            length, body = _bstr(content, match.start(1))
            if length is None:
                continue
            pad = content[body:body + length]
            found.append(Padding(offset=base_offset + cbor + 4 + body, length=len(pad), nonzero=any(pad)))
    return found


def _bstr(data: bytes, at: int) -> tuple[int | None, int]:
    """(length, offset of the bytes) of the CBOR byte string whose header starts at ``at``."""
    info = data[at] - 0x40
    if info < 24:
        return info, at + 1
    width = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    if width is None or at + 1 + width > len(data):
        return None, at
    return int.from_bytes(data[at + 1:at + 1 + width], "big"), at + 1 + width
