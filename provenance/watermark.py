"""The frame watermark: a 64-bit generation id in every frame, found again after H.264 and rescaling.

>>> import numpy as np
>>> from provenance.watermark import WatermarkCodec
>>> codec = WatermarkCodec(b"k" * 32)
>>> frame = np.random.default_rng(0).integers(40, 220, (256, 256, 3), dtype=np.uint8)
>>> reader = codec.reader()
>>> reader.add_frame(codec.embed(frame, 0x0123456789ABCDEF))
>>> result = reader.result()
>>> result.found, hex(result.watermark_id)
(True, '0x123456789abcdef')

Payload, from the inside out:

1. message = the 64-bit watermark id ‖ a 32-bit tag, the first 4 bytes of
   HMAC-SHA256(key, id). Only the key holder can make a tag that verifies.
2. channel code: K=7 rate-½ convolutional code (:mod:`provenance._ecc`) → 204 code bits.
3. whitening and interleaving: the code bits are XORed with a keyed mask and permuted by a keyed
   permutation. Unmarked video reads as the same mostly-zero bits in every frame (the reference
   library's false-positive trap); after the mask those bits are no code word of ours.
4. transform: the 204 bits are laid cyclically over the 4×4 blocks of the Haar approximation
   band of OpenCV's U channel and held in the blocks' largest singular values by quantisation
   (QIM): ``invisible-watermark``'s ``dwtDctSvd``, vectorised (:mod:`provenance._wm_transform`).
   A 512² frame carries each code bit in ~20 blocks.

Reading sums soft decisions (−sin of the quantisation phase) over every block and frame, for
each hypothesis — the frame as it is and rescaled to the release size (a clip downscaled after
release), at each of the quantisation steps a release may use — then Viterbi-decodes each
hypothesis and accepts one only if its tag verifies. A random clip passes one hypothesis with
probability 2⁻³²; :attr:`WatermarkResult.false_match_probability` is that bound times the
number of hypotheses tried.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from provenance import _ecc
from provenance._wm_transform import Channel, embed_bits, phase_scores, singular_values
from provenance.errors import WatermarkError

if TYPE_CHECKING:
    import torch

WATERMARK_ALG = "com.likeness.watermark.dwtdctsvd.v1"
ID_BITS = 64
TAG_BITS = 32
CHANNEL: Channel = "u"
BLOCK = 8
"""Approximation-band block side: 16×16 pixels per block, 1024 blocks in a 512² frame."""
STEPS = (72.0, 96.0, 128.0)
"""Quantisation steps a release may use (``LIKENESS_WATERMARK_STRENGTH``); readers try all of them."""
DEFAULT_STEP = 96.0
RELEASE_SIZES = (512,)
"""Short sides that releases are made at; a reader also tries frames rescaled to these."""
MIN_EMBED_SIDE = 256  # the reference refuses smaller frames too: too few blocks per code bit
MIN_READ_SIDE = 64


def _derive(key: bytes, label: bytes, size: int) -> bytes:
    return hashlib.shake_256(hmac.new(key, b"likeness/watermark/v1/" + label, hashlib.sha256).digest()).digest(size)


@dataclass(frozen=True)
class WatermarkResult:
    """What a reader found.

    ``bit_agreement`` is the share of the 204 code bits whose vote agrees with the code word of the
    decoded message (for a found mark: how cleanly it was read; for none: of the best hypothesis).
    ``false_match_probability`` bounds the chance that an unmarked clip passes the code check in
    any of the ``hypotheses`` tried.
    """

    found: bool
    watermark_id: int | None
    bit_agreement: float
    false_match_probability: float
    frames_read: int
    hypotheses: int
    step: float | None = None
    scale: float | None = None


class WatermarkCodec:
    """Embeds and reads one key's watermark. Thread-safe; holds no per-clip state."""

    def __init__(self, key: bytes, *, strength: float = DEFAULT_STEP) -> None:
        if len(key) < 16:
            raise WatermarkError("the watermark key must be at least 16 bytes")
        if strength not in STEPS:
            raise WatermarkError(
                f"watermark strength {strength} is not one of {', '.join(f'{s:g}' for s in STEPS)}"
            )
        self._key = bytes(key)
        self.step = float(strength)
        self._mask = np.unpackbits(np.frombuffer(_derive(self._key, b"mask", 32), np.uint8))[: _ecc.CODE_BITS]
        order = np.frombuffer(_derive(self._key, b"permutation", 4 * _ecc.CODE_BITS), ">u4")
        self._permutation = np.argsort(order, kind="stable")  # layout position p carries code bit perm[p]
        self._last_layout: tuple[int, np.ndarray] | None = None  # a release marks one id in every frame

    def __repr__(self) -> str:
        return f"WatermarkCodec(step={self.step:g}, key=<{len(self._key)} bytes>)"

    # --- payload -------------------------------------------------------------------------------

    def tag(self, watermark_id: int) -> int:
        digest = hmac.new(self._key, b"likeness/watermark/v1/tag" + watermark_id.to_bytes(8, "big"), hashlib.sha256)
        return int.from_bytes(digest.digest()[: TAG_BITS // 8], "big")

    def layout_bits(self, watermark_id: int) -> np.ndarray:
        """The 204 bits laid cyclically over the blocks of a frame (what the reference library sees)."""
        if not 0 <= watermark_id < 2**ID_BITS:
            raise WatermarkError("a watermark id is a 64-bit unsigned integer")
        last = self._last_layout
        if last is not None and last[0] == watermark_id:
            return last[1].copy()
        message = (watermark_id << TAG_BITS) | self.tag(watermark_id)
        bits = np.array([(message >> (ID_BITS + TAG_BITS - 1 - i)) & 1 for i in range(ID_BITS + TAG_BITS)], np.uint8)
        layout = (_ecc.encode(bits) ^ self._mask)[self._permutation]
        self._last_layout = (watermark_id, layout)
        return layout.copy()

    def _decode(self, layout_soft: np.ndarray) -> tuple[int | None, float, float]:
        """Soft values per layout position → (id if its tag verifies, bit agreement, correlation)."""
        code_soft = np.empty_like(layout_soft)
        code_soft[self._permutation] = layout_soft
        code_soft = np.where(self._mask == 1, -code_soft, code_soft)
        bits = _ecc.viterbi_decode(code_soft)
        message = int("".join(map(str, bits.tolist())), 2)
        watermark_id, tag = message >> TAG_BITS, message & ((1 << TAG_BITS) - 1)
        code = _ecc.encode(bits)
        agreement = float(np.mean((code_soft > 0) == code.astype(bool)))
        correlation = float(np.mean(code_soft * (2.0 * code - 1.0)))
        verified = hmac.compare_digest(tag.to_bytes(4, "big"), self.tag(watermark_id).to_bytes(4, "big"))
        return (watermark_id if verified else None), agreement, correlation

    # --- embedding -----------------------------------------------------------------------------

    def embed(self, frame: np.ndarray, watermark_id: int) -> np.ndarray:
        """A marked copy of one RGB uint8 frame (H, W, 3), both sides ≥ 256."""
        _check_frame(frame)
        return embed_bits(frame, bits=self.layout_bits(watermark_id), step=self.step, channel=CHANNEL, block=BLOCK)

    def embed_batch(self, frames: torch.Tensor, watermark_id: int) -> torch.Tensor:
        """Mark a batch of RGB uint8 frames (N, H, W, 3) on their device (CUDA or CPU) with torch."""
        from provenance import _wm_torch

        if frames.ndim != 4 or frames.shape[-1] != 3 or str(frames.dtype) != "torch.uint8":
            raise WatermarkError("embed_batch takes a uint8 tensor of shape (N, H, W, 3)")
        if min(frames.shape[1:3]) < MIN_EMBED_SIDE:
            raise WatermarkError(f"frames of {frames.shape[2]}x{frames.shape[1]} are too small to mark "
                                 f"(both sides must be ≥ {MIN_EMBED_SIDE})")
        return _wm_torch.embed_bits(
            frames, self.layout_bits(watermark_id), step=self.step, channel=CHANNEL, block=BLOCK
        )

    # --- reading -------------------------------------------------------------------------------

    def reader(self) -> WatermarkReader:
        return WatermarkReader(self)


class WatermarkReader:
    """Accumulates soft votes over the frames of one clip; :meth:`result` decodes them."""

    def __init__(self, codec: WatermarkCodec) -> None:
        self._codec = codec
        self._frames = 0
        # (scale, step) → (sum of scores, number of blocks) per layout position
        self._votes: dict[tuple[float, float], tuple[np.ndarray, np.ndarray]] = {}

    @property
    def frames_read(self) -> int:
        return self._frames

    def add_frame(self, frame: np.ndarray) -> None:
        """Add one decoded RGB uint8 frame (any size of at least 64 pixels a side)."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise WatermarkError("a frame to read is an RGB uint8 array of shape (H, W, 3)")
        if min(frame.shape[:2]) < MIN_READ_SIDE:
            return
        self._frames += 1
        for scale in _scales(frame.shape):
            view = frame if scale == 1.0 else _rescale(frame, scale)
            s0 = singular_values(view, channel=CHANNEL, block=BLOCK)
            for step in STEPS:
                sums, counts = phase_scores(s0, length=_ecc.CODE_BITS, step=step)
                key = (scale, step)
                if key in self._votes:
                    total, blocks = self._votes[key]
                    total += sums
                    blocks += counts
                else:
                    self._votes[key] = (sums, counts)

    def result(self) -> WatermarkResult:
        hypotheses = len(self._votes)
        false_match = -math.expm1(hypotheses * math.log1p(-(2.0**-TAG_BITS))) if hypotheses else 0.0
        # The passing hypothesis whose votes correlate best with its code word wins.
        found: tuple[float, float, int, float, float] | None = None  # (correlation, agreement, id, scale, step)
        best_agreement = 0.0
        for (scale, step), (sums, counts) in self._votes.items():
            watermark_id, agreement, correlation = self._codec._decode(sums / np.maximum(counts, 1))
            best_agreement = max(best_agreement, agreement)
            if watermark_id is not None and (found is None or correlation > found[0]):
                found = (correlation, agreement, watermark_id, scale, step)
        if found is None:
            return WatermarkResult(
                found=False, watermark_id=None, bit_agreement=best_agreement,
                false_match_probability=false_match, frames_read=self._frames, hypotheses=hypotheses,
            )
        _, agreement, watermark_id, scale, step = found
        return WatermarkResult(
            found=True, watermark_id=watermark_id, bit_agreement=agreement,
            false_match_probability=false_match, frames_read=self._frames,
            hypotheses=hypotheses, step=step, scale=scale,
        )


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise WatermarkError("a frame to mark is an RGB uint8 array of shape (H, W, 3)")
    if min(frame.shape[:2]) < MIN_EMBED_SIDE:
        raise WatermarkError(
            f"a {frame.shape[1]}x{frame.shape[0]} frame is too small to mark (both sides must be ≥ {MIN_EMBED_SIDE})"
        )


def _scales(shape: tuple[int, ...]) -> list[float]:
    """The frame as it is, and rescaled so that its short side is each release size."""
    short = min(shape[:2])
    return [1.0, *sorted({size / short for size in RELEASE_SIZES if size != short})]


def _rescale(frame: np.ndarray, scale: float) -> np.ndarray:
    size = (round(frame.shape[1] * scale), round(frame.shape[0] * scale))
    return cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA)
