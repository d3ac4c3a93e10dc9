"""Flow matching with a clean-signal prediction, and sampling with classifier-free guidance.

>>> import torch
>>> from generator.learned.flow import noise_schedule
>>> [round(t, 2) for t in noise_schedule(4).tolist()]
[1.0, 0.75, 0.5, 0.25, 0.0]

The path between a clean window ``x0`` and Gaussian noise ``e`` is the straight line
``x_t = (1 − t)·x0 + t·e`` (rectified flow). The network predicts ``x0`` (VASA-1 predicts the clean
signal as well); sampling walks ``t`` from 1 to 0 in ``steps`` Euler steps of the implied velocity,
which for this path is the deterministic update ``x_s = (1 − s)·x̂0 + s·ê`` with
``ê = (x_t − (1 − t)·x̂0) / t``. Few steps suffice for smooth, low-dimensional motion (the small
configuration uses 6); the VASA-size configuration uses 50.

Classifier-free guidance with two scales, as VASA-1 guides audio and the other controls separately:
``x̂0 = f(all) + (λ_audio − 1)·(f(all) − f(no audio)) + (λ_cond − 1)·(f(all) − f(no gaze, distance,
emotion))``; a scale of 1 switches that guidance off and saves its forward pass. The passes run as
one batch.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from generator.learned.model import NO_EMOTION, MotionDenoiser


def noise_schedule(steps: int) -> torch.Tensor:
    """``steps + 1`` noise levels from 1 (pure noise) to 0 (clean), evenly spaced."""
    return torch.linspace(1.0, 0.0, steps + 1)


@dataclass(frozen=True)
class Guidance:
    """Classifier-free guidance scales (1: off) and the number of sampling steps (None: the model's)."""

    audio: float = 1.5
    conditions: float = 1.0
    steps: int | None = None


DEFAULT_GUIDANCE = Guidance()


def drop_conditions(batch: dict[str, torch.Tensor], *, p: float, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Each condition of each example dropped independently with probability ``p`` (for guidance)."""
    out = dict(batch)
    size = batch["audio"].shape[0]

    def keep() -> torch.Tensor:
        return (torch.rand(size, generator=generator) >= p).to(batch["audio"].device)

    out["has_audio"] = batch["has_audio"] & keep()
    out["has_gaze"] = batch["has_gaze"] & keep()
    out["has_distance"] = batch["has_distance"] & keep()
    out["emotion"] = torch.where(keep(), batch["emotion"], torch.full_like(batch["emotion"], NO_EMOTION))
    return out


def training_loss(
    net: torch.nn.Module, clean: torch.Tensor, conditions: dict[str, torch.Tensor], *, generator: torch.Generator,
    velocity_weight: float = 0.5,
) -> torch.Tensor:
    """Mean squared error of the predicted clean window, plus a term on its frame-to-frame velocity."""
    batch = clean.shape[0]
    t = torch.rand(batch, generator=generator).to(clean.device)
    noise = torch.randn(clean.shape, generator=generator).to(clean.device)
    noisy = (1 - t[:, None, None]) * clean + t[:, None, None] * noise
    predicted = net(noisy, t, **conditions).float()
    loss = F.mse_loss(predicted, clean)
    if velocity_weight and clean.shape[1] > 1:
        loss = loss + velocity_weight * F.mse_loss(predicted.diff(dim=1), clean.diff(dim=1))
    return loss


@torch.no_grad()
def sample_window(
    net: MotionDenoiser, conditions: dict[str, torch.Tensor], *, frames: int, guidance: Guidance,
    generator: torch.Generator,
) -> torch.Tensor:
    """One window of ``frames`` clean latents [B, frames, D] for the given context, audio and conditions."""
    batch = conditions["audio"].shape[0]
    steps = guidance.steps or net.config.steps
    x = torch.randn(batch, frames, net.config.latent_dim, generator=generator).to(conditions["audio"].device)
    variants = [conditions]
    if guidance.audio != 1.0:
        variants.append({**conditions, "has_audio": torch.zeros_like(conditions["has_audio"])})
    if guidance.conditions != 1.0:
        variants.append({**conditions, "has_gaze": torch.zeros_like(conditions["has_gaze"]),
                         "has_distance": torch.zeros_like(conditions["has_distance"]),
                         "emotion": torch.full_like(conditions["emotion"], NO_EMOTION)})
    stacked = {key: torch.cat([v[key] for v in variants]) for key in conditions}
    levels = noise_schedule(steps).tolist()
    for t, s in itertools.pairwise(levels):
        t_batch = torch.full((batch * len(variants),), t, device=x.device)
        outputs = net(x.repeat(len(variants), 1, 1), t_batch, **stacked).float().split(batch)
        x0 = outputs[0]
        index = 1
        if guidance.audio != 1.0:
            x0 = x0 + (guidance.audio - 1.0) * (outputs[0] - outputs[index])
            index += 1
        if guidance.conditions != 1.0:
            x0 = x0 + (guidance.conditions - 1.0) * (outputs[0] - outputs[index])
        if s <= 0.0:
            x = x0
        else:
            noise = (x - (1.0 - t) * x0) / t
            x = (1.0 - s) * x0 + s * noise
    return x
