"""Motion latents for a whole clip, generated window by window with the previous window as context.

>>> import numpy as np
>>> from generator.learned.inference import window_starts
>>> window_starts(120, window=50)
[0, 50, 100]

:func:`iter_latent_windows` yields each window as soon as it is sampled; :func:`generate_latents`
joins them. A window's first ``context`` frames are the last frames the previous window produced
(clean), the first window has none (the model learned that case), and the last window is padded
with the edge audio frame to full length and cut back. The audio features are centred over the whole
input first, as training centred each clip's. Latents come out in the dataset's units
(degrees, pixels, log scale, whitened expression coefficients, blink 0–1, gaze −1…1).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from generator.errors import GeneratorError
from generator.learned.checkpoint import MotionModel
from generator.learned.flow import DEFAULT_GUIDANCE, Guidance, sample_window
from generator.learned.model import EMOTION_NAMES, NO_EMOTION


def window_starts(n_frames: int, *, window: int) -> list[int]:
    return list(range(0, max(n_frames, 1), window))


def _conditions(model: MotionModel, audio: torch.Tensor, context: torch.Tensor, *, has_context: bool,
                has_audio: bool, gaze: tuple[float, float] | None, distance: float | None,
                emotion: str | None) -> dict[str, Any]:
    mean, std = model.latent_mean, model.latent_std
    gx, gy, ls = model.index("gaze_x"), model.index("gaze_y"), model.index("log_scale")
    g = [(gaze[0] - mean[gx]) / std[gx], (gaze[1] - mean[gy]) / std[gy]] \
        if gaze is not None and gx is not None and gy is not None else None
    d = [(distance - mean[ls]) / std[ls]] if distance is not None and ls is not None else None
    label = EMOTION_NAMES.index(emotion) if emotion in EMOTION_NAMES else NO_EMOTION
    if label not in model.emotions:
        label = NO_EMOTION  # the model never saw this label: ask for "not given" rather than an untrained embedding
    return {
        "context": context[None], "has_context": torch.tensor([has_context]), "audio": audio[None],
        "has_audio": torch.tensor([has_audio]), "gaze": torch.tensor([g or [0.0, 0.0]], dtype=torch.float32),
        "has_gaze": torch.tensor([g is not None]), "distance": torch.tensor([d or [0.0]], dtype=torch.float32),
        "has_distance": torch.tensor([d is not None]), "emotion": torch.tensor([label]),
    }


def iter_latent_windows(
    model: MotionModel,
    audio_features: np.ndarray,
    *,
    has_audio: bool = True,
    gaze: tuple[float, float] | None = None,
    distance: float | None = None,
    emotion: str | None = None,
    guidance: Guidance = DEFAULT_GUIDANCE,
    seed: int | None = 0,
) -> Iterator[np.ndarray]:
    """Windows of latents [≤ window, D] in order, each sampled when asked for."""
    feats = np.asarray(audio_features, np.float32)
    if feats.ndim != 2 or feats.shape[1] != model.config.audio_dim:
        raise GeneratorError(f"audio features of shape {feats.shape} do not fit the motion model "
                             f"(frames × {model.config.audio_dim})")
    if not np.isfinite(feats).all():
        raise GeneratorError("the audio features contain NaN or infinite values")
    if guidance.steps is not None and not 1 <= guidance.steps <= 1000:
        raise GeneratorError(f"sampling steps must be between 1 and 1000, got {guidance.steps}")
    if not (0.0 <= guidance.audio <= 10.0 and 0.0 <= guidance.conditions <= 10.0):
        raise GeneratorError("guidance scales must be between 0 and 10")
    n, (w, c) = len(feats), (model.config.window, model.config.context)
    device = next(model.net.parameters()).device
    if model.audio_centering == "clip" and len(feats):
        feats = feats - feats.mean(axis=0)  # as in training (generator.learned.data)
    normalised = torch.from_numpy((feats - model.audio_mean) / model.audio_std)
    generator = torch.Generator().manual_seed(int(seed) if seed is not None else int(torch.seed() % 2**62))
    context = torch.zeros(c, model.config.latent_dim)
    for k, start in enumerate(window_starts(n, window=w)):
        index = np.clip(np.arange(start - c, start + w), 0, max(n - 1, 0))
        audio = normalised[index]
        conditions = _conditions(model, audio, context, has_context=k > 0, has_audio=has_audio, gaze=gaze,
                                 distance=distance, emotion=emotion)
        conditions = {key: value.to(device) for key, value in conditions.items()}
        window = sample_window(model.net, conditions, frames=w, guidance=guidance, generator=generator)[0].cpu()
        context = window[-c:] if c else context
        keep = min(w, n - start)
        yield (window[:keep].numpy() * model.latent_std + model.latent_mean).astype(np.float32)


def generate_latents(
    audio_features: np.ndarray,
    *,
    model: MotionModel | None = None,
    has_audio: bool = True,
    gaze: tuple[float, float] | None = None,
    distance: float | None = None,
    emotion: str | None = None,
    guidance: Guidance = DEFAULT_GUIDANCE,
    seed: int | None = 0,
) -> np.ndarray:
    """Latents [T, D] (the dataset's units) for per-frame audio features [T, F]; default model: the shipped one."""
    if model is None:
        from generator.learned.backend import shipped_model

        model = shipped_model()
    if len(audio_features) == 0:
        return np.zeros((0, model.config.latent_dim), np.float32)
    windows = list(iter_latent_windows(model, audio_features, has_audio=has_audio, gaze=gaze, distance=distance,
                                       emotion=emotion, guidance=guidance, seed=seed))
    return np.concatenate(windows)
