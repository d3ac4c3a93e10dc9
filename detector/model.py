"""The companion classifier's network (torch; used to train and export, never at detection time).

>>> import torch
>>> from detector.model import CompanionNet
>>> net = CompanionNet().eval()
>>> face = torch.zeros(2, 8, 128, 128, 3, dtype=torch.uint8)     # windows, frames, H, W, RGB
>>> mouth = torch.zeros(2, 8, 96, 96, 3, dtype=torch.uint8)
>>> window_logit, frame_logit = net(face, mouth)
>>> tuple(window_logit.shape), tuple(frame_logit.shape)
((2,), (2, 8))
>>> sum(p.numel() for p in net.parameters()) < 1_000_000
True

A window is ``T`` consecutive aligned crops of one face: the face (128², about 53 px per
interocular distance) and the mouth (96², about 69 px per interocular distance). With
``inputs="residual"`` (the shipped model) each frame enters as 6 channels: its high-pass residual
(the frame minus a 5×5 binomial blur — where rendering, warping and painting leave their traces,
and where identity, skin tone and light say little) and its difference from the previous frame.
``inputs="rgb"`` gives the plain colours instead of the residual; ``inputs="motion"`` only the 3
channels of the frame difference (how the face changes, nothing of how it looks). Measured
against each other in docs/detector.md: the residual generalised better than RGB to faces the
network never saw; motion alone ranked held-out clips better but raised a false alarm.
Each stream is a 4×4 stride-4 stem (a learned block transform),
a 3×3 convolution, three stride-2 3×3 stages and global average pooling; the two streams'
features are joined and a temporal 1-D convolution gives a logit per frame, whose mean is the
window's logit (positive: synthetic). About 0.13 M parameters; inputs are uint8 so that the
exported ONNX graph needs no preprocessing beyond the crops.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn


def _stage(cin: int, cout: int, *, kernel: int, stride: int, padding: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


INPUTS = ("motion", "residual", "rgb")


class _Stream(nn.Sequential):
    def __init__(self, widths: tuple[int, ...], *, channels: int) -> None:
        layers = _stage(channels, widths[0], kernel=4, stride=4, padding=0)
        layers += _stage(widths[0], widths[0], kernel=3, stride=1, padding=1)
        for cin, cout in itertools.pairwise(widths):
            layers += _stage(cin, cout, kernel=3, stride=2, padding=1)
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        super().__init__(*layers)


class CompanionNet(nn.Module):
    """Face + mouth streams per frame, temporal convolution, mean over the window."""

    blur: torch.Tensor  # a buffer (register_buffer): the residual's 5×5 binomial kernel, one per channel

    def __init__(self, *, widths: tuple[int, ...] = (16, 32, 48, 64), temporal: int = 64, dropout: float = 0.2,
                 inputs: str = "residual") -> None:
        super().__init__()
        if inputs not in INPUTS:
            raise ValueError(f"unknown inputs {inputs!r} (expected one of {', '.join(INPUTS)})")
        self.inputs = inputs
        channels = 3 if inputs == "motion" else 6
        blur = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
        kernel = torch.outer(blur, blur) / 256.0
        self.register_buffer("blur", kernel.expand(3, 1, 5, 5).clone(), persistent=False)
        self.face = _Stream(widths, channels=channels)
        self.mouth = _Stream(widths, channels=channels)
        self.temporal = nn.Sequential(
            nn.Conv1d(2 * widths[-1], temporal, 3, padding=1), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Conv1d(temporal, 1, 1),
        )

    def _prepare(self, crops: torch.Tensor) -> torch.Tensor:
        """(W, T, S, S, 3) uint8 → (W·T, C, S, S): the frame's change from the previous frame (zero for the
        first), after the frame itself (its high-pass residual, or RGB) unless ``inputs="motion"``."""
        x = crops.float().permute(0, 1, 4, 2, 3) / 255.0
        diff = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)
        if self.inputs == "motion":
            return (diff * 8.0).flatten(0, 1)
        if self.inputs == "residual":
            flat = x.flatten(0, 1)
            low = nn.functional.conv2d(nn.functional.pad(flat, (2, 2, 2, 2), mode="replicate"), self.blur, groups=3)
            still = ((flat - low) * 16.0).view_as(x)
        else:
            still = (x - 0.5) * 4.0
        return torch.cat([still, diff * 8.0], dim=2).flatten(0, 1)

    def forward(self, face: torch.Tensor, mouth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        windows, frames = face.shape[0], face.shape[1]
        features = torch.cat([self.face(self._prepare(face)), self.mouth(self._prepare(mouth))], dim=1)
        per_frame = self.temporal(features.view(windows, frames, -1).transpose(1, 2))[:, 0]
        return per_frame.mean(dim=1), per_frame
