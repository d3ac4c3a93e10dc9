"""The motion denoiser: a transformer over windows of motion latents, conditioned on audio and controls.

>>> import torch
>>> from generator.learned.model import MotionDenoiser, config_named
>>> config = config_named("small", latent_dim=22, audio_dim=48)
>>> net = MotionDenoiser(config).eval()
>>> batch = net.null_conditions(2, frames=config.window + config.context)
>>> x0 = net(torch.randn(2, config.window, 22), torch.rand(2), context=torch.zeros(2, config.context, 22),
...          has_context=torch.tensor([True, False]), audio=torch.zeros(2, config.context + config.window, 48),
...          **batch)
>>> tuple(x0.shape), net.parameter_count() < 5_000_000
((2, 50, 22), True)

VASA-1 (Xu et al., 2024) generates head pose and facial dynamics together as a sequence of motion
latents with a diffusion transformer. Here one window holds ``context`` clean frames (the end of the
previous window, or nothing at the start of a clip) followed by ``window`` noisy frames; each frame
is a token (its latent — clean for the context, noisy for the rest — plus its audio features and a
marker saying which kind it is), and one leading token carries the conditions: the noise level,
the main gaze direction (2), the head distance (log scale, 1) and the emotion. Each condition has a
learned "absent" value, used when it is dropped during training and for classifier-free guidance.
The network predicts the clean latents of the new frames (VASA-1 predicts the clean signal too).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import nn

from generator.errors import GeneratorError

EMOTION_NAMES = ("neutral", "happy", "sad", "surprised", "angry")  # generator.motion.EMOTIONS, in order
NO_EMOTION = len(EMOTION_NAMES)  # the index of "not given" (unlabelled training data, dropped condition)


@dataclass(frozen=True)
class MotionModelConfig:
    """The network's shape and its sampling defaults (stored with every checkpoint)."""

    name: str
    latent_dim: int
    audio_dim: int
    layers: int
    width: int
    heads: int
    ff_mult: int = 4
    window: int = 50
    context: int = 10
    steps: int = 6
    dropout: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MotionModelConfig:
        try:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except TypeError as exc:
            raise GeneratorError(f"malformed motion model config ({exc})") from None


# VASA-1's size: 8 layers, width 512, 8 heads (~29M parameters with the embeddings), 50 steps;
# the small one is ~3M parameters and samples in 6 Euler steps, faster than real time on a CPU.
_PRESETS = {
    "vasa": dict(layers=8, width=512, heads=8, steps=50),
    "small": dict(layers=4, width=256, heads=4, steps=6),
    "tiny": dict(layers=2, width=64, heads=4, steps=4),  # tests only
}
CONFIG_NAMES = tuple(_PRESETS)


def config_named(name: str, *, latent_dim: int, audio_dim: int, **overrides: Any) -> MotionModelConfig:
    """A preset (``"vasa"``, ``"small"``, ``"tiny"``) for the dataset's latent and audio sizes."""
    if name not in _PRESETS:
        raise GeneratorError(f"unknown motion model config {name!r}; known: {', '.join(_PRESETS)}")
    config = MotionModelConfig(name=name, latent_dim=latent_dim, audio_dim=audio_dim, **_PRESETS[name])
    return replace(config, **overrides) if overrides else config


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of the noise level t ∈ [0, 1] (scaled ×1000 like diffusion timesteps)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = 1000.0 * t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


class MotionDenoiser(nn.Module):
    """Predicts clean motion latents ``[B, window, D]`` from noisy ones, context, audio and conditions."""

    def __init__(self, config: MotionModelConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.latent_in = nn.Linear(config.latent_dim, w)
        self.audio_in = nn.Sequential(nn.Linear(config.audio_dim, w), nn.SiLU(), nn.Linear(w, w))
        self.no_audio = nn.Parameter(torch.zeros(w))
        self.kind = nn.Embedding(3, w)  # 0: clean context frame, 1: missing context frame, 2: frame to denoise
        self.position = nn.Parameter(torch.randn(config.context + config.window + 1, w) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.gaze_in = nn.Linear(2, w)
        self.no_gaze = nn.Parameter(torch.zeros(w))
        self.distance_in = nn.Linear(1, w)
        self.no_distance = nn.Parameter(torch.zeros(w))
        self.emotion = nn.Embedding(len(EMOTION_NAMES) + 1, w)
        layer = nn.TransformerEncoderLayer(
            w, config.heads, dim_feedforward=config.ff_mult * w, dropout=config.dropout, activation="gelu",
            batch_first=True, norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(w)
        self.out = nn.Linear(w, config.latent_dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def null_conditions(self, batch: int, *, frames: int) -> dict[str, torch.Tensor]:
        """Every condition absent (gaze, distance, emotion; audio given by the caller)."""
        device = self.position.device
        return {
            "gaze": torch.zeros(batch, 2, device=device),
            "has_gaze": torch.zeros(batch, dtype=torch.bool, device=device),
            "distance": torch.zeros(batch, 1, device=device),
            "has_distance": torch.zeros(batch, dtype=torch.bool, device=device),
            "emotion": torch.full((batch,), NO_EMOTION, dtype=torch.long, device=device),
            "has_audio": torch.ones(batch, dtype=torch.bool, device=device),
        }

    def forward(
        self,
        noisy: torch.Tensor,
        t: torch.Tensor,
        *,
        context: torch.Tensor,
        has_context: torch.Tensor,
        audio: torch.Tensor,
        has_audio: torch.Tensor,
        gaze: torch.Tensor,
        has_gaze: torch.Tensor,
        distance: torch.Tensor,
        has_distance: torch.Tensor,
        emotion: torch.Tensor,
    ) -> torch.Tensor:
        """``noisy`` [B, N, D] (N ≤ window), ``t`` [B], ``context`` [B, C, D], ``audio`` [B, C + N, F]."""
        batch, n, _ = noisy.shape
        c = context.shape[1]
        if n > self.config.window or c != self.config.context or audio.shape[1] != c + n:
            raise GeneratorError(
                f"motion window of {c} + {n} frames with {audio.shape[1]} audio frames does not fit the model "
                f"({self.config.context} context + at most {self.config.window} frames)"
            )
        frames = torch.cat([context, noisy], dim=1)
        kinds = torch.full((batch, c + n), 2, dtype=torch.long, device=noisy.device)
        kinds[:, :c] = torch.where(has_context[:, None], 0, 1)
        tokens = self.latent_in(frames * torch.cat([has_context[:, None, None].expand(batch, c, 1).float(),
                                                     torch.ones(batch, n, 1, device=noisy.device)], dim=1))
        sound = self.audio_in(audio)
        sound = torch.where(has_audio[:, None, None], sound, self.no_audio.to(sound.dtype))
        tokens = tokens + sound + self.kind(kinds)

        cond = self.time_mlp(timestep_embedding(t, self.config.width).to(tokens.dtype))
        cond = cond + torch.where(has_gaze[:, None], self.gaze_in(gaze), self.no_gaze.to(cond.dtype))
        cond = cond + torch.where(has_distance[:, None], self.distance_in(distance), self.no_distance.to(cond.dtype))
        cond = cond + self.emotion(emotion)
        sequence = torch.cat([cond[:, None], tokens], dim=1) + self.position[: c + n + 1]
        hidden = self.blocks(sequence)
        return self.out(self.norm(hidden[:, 1 + c :]))
