"""The watermark transform of :mod:`provenance._wm_transform` in torch, for batches on a GPU.

Same algebra, batched over frames: the frames stay on their device (a generator running on
CUDA marks its output without a round trip through the CPU). Results match the NumPy path to
within one grey level (float rounding), and read back identically.

>>> import numpy as np, torch
>>> from provenance._wm_torch import embed_bits
>>> frames = torch.randint(40, 220, (2, 256, 256, 3), dtype=torch.uint8)
>>> embed_bits(frames, np.arange(8) % 2, step=36.0, channel="u").shape
torch.Size([2, 256, 256, 3])
"""

from __future__ import annotations

import numpy as np
import torch

from provenance._wm_transform import _DELTA_RGB, _WEIGHTS, BLOCK, POWER_ITERATIONS, Channel, grid


def embed_bits(
    frames: torch.Tensor, bits: np.ndarray, *, step: float, channel: Channel, block: int = BLOCK
) -> torch.Tensor:
    """Marked copies of RGB uint8 frames (N, H, W, 3), on the frames' device."""
    device = frames.device
    n = frames.shape[0]
    rows, cols = grid(frames.shape[1:], block)
    height, width = rows * 2 * block, cols * 2 * block
    weights = torch.from_numpy(_WEIGHTS[channel]).to(device)
    plane = frames[:, :height, :width].to(torch.float32) @ weights  # (N, H', W')
    pairs = plane[:, 0::2] + plane[:, 1::2]
    band = (pairs[:, :, 0::2] + pairs[:, :, 1::2]) * 0.5 + (256.0 if channel == "u" else 0.0)
    blocks = band.reshape(n, rows, block, cols, block).permute(0, 1, 3, 2, 4)  # (N, rows, cols, b, b)

    transposed = blocks.transpose(-1, -2)
    v = transposed.sum(dim=-1, keepdim=True)  # Bᵀ·1, as in the NumPy path
    v = v / (torch.linalg.vector_norm(v, dim=-2, keepdim=True) + 1e-12)
    for _ in range(POWER_ITERATIONS):
        v = transposed @ (blocks @ v)
        v = v / (torch.linalg.vector_norm(v, dim=-2, keepdim=True) + 1e-12)
    bv = blocks @ v
    s0 = torch.linalg.vector_norm(bv, dim=-2)[..., 0]  # (N, rows, cols)
    u = bv / (s0[..., None, None] + 1e-12)

    index = np.arange(rows * cols) % len(bits)
    layout = torch.from_numpy(np.asarray(bits, np.float32)[index].reshape(rows, cols)).to(device)
    change = (_quantise(s0, layout, step) - s0) * 0.5
    delta = change[..., None, None] * (u @ v.transpose(-1, -2))  # (N, rows, cols, b, b)
    pair = delta.permute(0, 1, 3, 2, 4).reshape(n, rows * block, cols * block)
    rgb_change = torch.round(pair[..., None] * torch.from_numpy(_DELTA_RGB[channel]).to(device))
    rgb_change = rgb_change.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)
    out = frames.clone()
    region = frames[:, :height, :width].to(torch.int16) + rgb_change.to(torch.int16)
    out[:, :height, :width] = region.clamp_(0, 255).to(torch.uint8)
    return out


def _quantise(s0: torch.Tensor, bits: torch.Tensor, step: float) -> torch.Tensor:
    """:func:`provenance._wm_transform.quantise` for tensors."""
    offset = (0.25 + 0.5 * bits) * step
    target = torch.round((s0 - offset) / step) * step + offset
    return torch.where(target < 0, target + step, target)

