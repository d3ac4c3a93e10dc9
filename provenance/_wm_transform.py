"""The DWT-DCT-SVD frame transform of ``invisible-watermark``'s ``dwtDctSvd``, vectorised with NumPy.

The reference (imwatermark/dwtDctSvd.py) converts a frame to YUV (OpenCV's BGR2YUV), takes a
one-level Haar DWT of one channel, cuts the approximation band into 4×4 blocks, and quantises
the largest singular value ``s0`` of each block's DCT: ``s0 % step > step / 2`` reads as bit 1.
Block ``n`` in raster order carries bit ``n % L``. It does this in Python loops (~150 ms per
512² frame).

The same transform, computed without loops:

* the Haar approximation band is a 2×2 sum halved (``pywt.dwt2(x, "haar")[0]``);
* the orthonormal DCT does not change singular values (``dct(B) = C B Cᵀ`` with ``C``
  orthogonal), and changing ``s0`` in the DCT domain then inverting is the same as changing it
  in the block itself along the block's own singular vectors — so no DCT is needed;
* the block's top singular triple comes from a few batched power iterations;
* a change δ of one approximation coefficient is a change δ/2 of each of its four pixels.

Two departures from the reference, neither visible to its decoder: the embedder moves ``s0``
to the *nearest* point of the bit's coset (the reference always rounds down, which costs ~2.5 dB
PSNR), and it does not swap the horizontal and vertical detail bands on reconstruction (the
reference's ``idwt2((ca, (v, h, d)))`` does, which distorts every frame).

>>> import numpy as np
>>> from provenance._wm_transform import embed_bits, soft_bits
>>> frame = np.random.default_rng(0).integers(60, 200, (256, 256, 3), dtype=np.uint8)
>>> bits = np.arange(16) % 2
>>> marked = embed_bits(frame, bits=bits, step=36.0, channel="u")
>>> sums, counts = soft_bits(marked, length=16, step=36.0, channel="u")
>>> bool(((sums > 0) == bits.astype(bool)).all())
True
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

Channel = Literal["y", "u"]
BLOCK = 4  # the reference's block size in the approximation band (8×8 pixels)
POWER_ITERATIONS = 2

# OpenCV's COLOR_BGR2YUV (BT.601, full range): Y = .299R + .587G + .114B, U = .492(B - Y) + 128.
_Y = np.array([0.299, 0.587, 0.114], np.float32)
_U = 0.492 * (np.array([0.0, 0.0, 1.0], np.float32) - _Y)
# How one unit of change in the channel moves R, G, B (the inverse transform, other channels fixed).
_DELTA_RGB = {"y": np.array([1.0, 1.0, 1.0], np.float32), "u": np.array([0.0, -0.395, 2.032], np.float32)}
_WEIGHTS = {"y": _Y, "u": _U}


def grid(shape: tuple[int, ...], block: int = BLOCK) -> tuple[int, int]:
    """Rows and columns of approximation-band blocks of a frame: one per (2·block)² pixels."""
    return shape[0] // (2 * block), shape[1] // (2 * block)


def _channel(rgb: np.ndarray, channel: Channel, height: int, width: int) -> np.ndarray:
    region = rgb[:height, :width].astype(np.float32)
    return region @ _WEIGHTS[channel]  # the U offset of 128 is added in _approximation_blocks


def _approximation_blocks(plane: np.ndarray, rows: int, cols: int, block: int, offset: float) -> np.ndarray:
    """Blocks of the Haar approximation band of ``plane + offset``, stacked (rows, cols, block, block)."""
    pairs = plane[0::2] + plane[1::2]
    band = (pairs[:, 0::2] + pairs[:, 1::2]) * 0.5 + 2.0 * offset
    return np.ascontiguousarray(band.reshape(rows, block, cols, block).transpose(0, 2, 1, 3))


def top_singular(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Largest singular value and its vectors of each block (…, b, b), by power iteration.

    The start is the column sums (``Bᵀ·1``): approximation-band blocks are dominated by their mean
    (in the U channel, with its +128 offset, ``s1/s0`` < 0.01 on real faces), so the start is
    already close and two iterations agree with LAPACK's SVD to ~1e-6 relative
    (tests/provenance/test_watermark.py). Returns ``s0`` (…), ``u`` (…, b) and ``v`` (…, b).
    """
    v = np.swapaxes(np.ones((1, blocks.shape[-2]), blocks.dtype) @ blocks, -1, -2)  # (…, b, 1)
    v /= np.linalg.norm(v, axis=-2, keepdims=True) + 1e-12
    transposed = np.swapaxes(blocks, -1, -2)
    for _ in range(POWER_ITERATIONS):
        v = transposed @ (blocks @ v)
        v /= np.linalg.norm(v, axis=-2, keepdims=True) + 1e-12
    bv = blocks @ v
    s0 = np.linalg.norm(bv, axis=-2)
    u = bv / (s0[..., None] + 1e-12)
    return s0[..., 0], u[..., 0], v[..., 0]


def block_bits(rows: int, *, cols: int, bits: np.ndarray) -> np.ndarray:
    """The reference's layout: block ``n`` (raster order) carries ``bits[n % len(bits)]``."""
    index = np.arange(rows * cols) % len(bits)
    return np.asarray(bits, np.float32)[index].reshape(rows, cols)


def quantise(s0: np.ndarray, *, bits: np.ndarray, step: float) -> np.ndarray:
    """The nearest value to ``s0`` whose position in its step reads as ``bits`` (¼ for 0, ¾ for 1)."""
    offset = (0.25 + 0.5 * bits) * step
    target = np.round((s0 - offset) / step) * step + offset
    return np.where(target < 0, target + step, target)


def _blocks_of(rgb: np.ndarray, channel: Channel, block: int) -> tuple[np.ndarray, int, int]:
    rows, cols = grid(rgb.shape, block)
    plane = _channel(rgb, channel, rows * 2 * block, cols * 2 * block)
    return _approximation_blocks(plane, rows, cols, block, 128.0 if channel == "u" else 0.0), rows, cols


def embed_bits(
    rgb: np.ndarray, *, bits: np.ndarray, step: float, channel: Channel, block: int = BLOCK
) -> np.ndarray:
    """Return a copy of the RGB uint8 frame with ``bits`` embedded (cyclically, every block)."""
    blocks, rows, cols = _blocks_of(rgb, channel, block)
    s0, u, v = top_singular(blocks)
    change = quantise(s0, bits=block_bits(rows, cols=cols, bits=bits), step=step) - s0
    # δ·u·vᵀ per block, halved onto each pixel of the 2×2 pair behind every band coefficient.
    delta = (change * 0.5)[..., None, None] * u[..., :, None] * v[..., None, :]  # (rows, cols, b, b)
    pair = delta.transpose(0, 2, 1, 3).reshape(rows * block, cols * block)
    # Rounded per channel, then added and saturated: the pixels are integers, so rounding the
    # change equals rounding the sum. (cv2.merge of per-channel planes: numpy broadcasting onto
    # a trailing axis of 3 is several times slower.)
    change_rgb = cv2.merge([np.rint(pair * weight).astype(np.int16) for weight in _DELTA_RGB[channel]])
    height, width = rows * 2 * block, cols * 2 * block
    change_rgb = cv2.resize(change_rgb, (width, height), interpolation=cv2.INTER_NEAREST)
    out = np.array(rgb, dtype=np.uint8, copy=True, order="C")
    out[:height, :width] = np.clip(cv2.add(out[:height, :width].astype(np.int16), change_rgb), 0, 255)
    return out


def singular_values(rgb: np.ndarray, *, channel: Channel, block: int = BLOCK) -> np.ndarray:
    """``s0`` of every approximation-band block of the frame, in the reference's raster order."""
    return top_singular(_blocks_of(rgb, channel, block)[0])[0].ravel()  # raster order: rows, then cols


def phase_scores(s0: np.ndarray, *, length: int, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Per bit position: the sum over its blocks of ``-sin(2π·(s0 mod step)/step)``, and the block count.

    Each term is +1 at the centre of a 1-cell, -1 at the centre of a 0-cell, 0 on the boundary the
    reference decoder uses; summing across blocks and frames is the soft vote.
    """
    scores = -np.sin((2.0 * np.pi / step) * np.mod(s0, step))
    index = np.arange(s0.size) % length
    return np.bincount(index, weights=scores, minlength=length), np.bincount(index, minlength=length)


def soft_bits(
    rgb: np.ndarray, *, length: int, step: float, channel: Channel, block: int = BLOCK
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`phase_scores` of one frame's blocks for a layout of ``length`` bits."""
    return phase_scores(singular_values(rgb, channel=channel, block=block), length=length, step=step)
