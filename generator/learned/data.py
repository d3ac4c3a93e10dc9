"""The motion dataset as training reads it: clips of latents and audio features, windows drawn from them.

>>> from generator.learned.data import LATENT_NAMES_NEEDED
>>> LATENT_NAMES_NEEDED
('gaze_x', 'gaze_y', 'log_scale')

The files are those ``generator.motion_data.prepare_dataset`` writes (docs/learned_generator.md):
``<clip>.npz`` with ``latent`` [T, D], ``audio`` [T, F] and ``fps``, and ``meta.json`` with the
latent names, the audio size, the frame rate, the clips (``has_audio``) and the latent's per-dimension
mean and standard deviation. Latents are standardised with those statistics; audio features with
their own, computed here over the training clips' audible frames and stored with the model. A clip
without audio trains the model's "no audio" condition. The conditions of a window are measured on
the window itself: the main gaze direction is the mean of its gaze dimensions, the head distance
the mean of its log scale (both standardised). Audio features are centred per clip first (see
:data:`AUDIO_CENTERING`). An optional ``emotion`` string per clip in
``meta.json`` labels it; unlabelled clips (all of ``../shared/data``) train "emotion not given".
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from generator.errors import GeneratorError
from generator.learned.model import EMOTION_NAMES, NO_EMOTION

logger = logging.getLogger(__name__)

LATENT_NAMES_NEEDED = ("gaze_x", "gaze_y", "log_scale")
AUDIO_CENTERING = "clip"  # recorded in model files; generator.learned.inference applies the same


@dataclass
class MotionClip:
    name: str
    latent: np.ndarray  # [T, D] standardised
    audio: np.ndarray  # [T, F] raw features
    has_audio: bool
    emotion: int
    held_out: bool = False  # meta.json marks it ``"split": "holdout"``: never trained on


@dataclass
class Standardisation:
    """What inference needs to undo the standardisation: the latents' names, their mean and standard
    deviation, the audio features' own, and the frame rate. A dataset computes it; a model carries it."""

    latent_names: list[str]
    latent_mean: np.ndarray
    latent_std: np.ndarray
    audio_mean: np.ndarray
    audio_std: np.ndarray
    fps: float

    def index(self, name: str) -> int | None:
        return self.latent_names.index(name) if name in self.latent_names else None


@dataclass
class MotionDataset(Standardisation):
    """Clips plus their :class:`Standardisation`."""

    clips: list[MotionClip]
    root: Path

    @property
    def latent_dim(self) -> int:
        return len(self.latent_names)

    @property
    def audio_dim(self) -> int:
        return int(self.audio_mean.shape[0])

    def frames(self) -> int:
        return sum(len(c.latent) for c in self.clips)

    def split(self, held_out: Sequence[str] = ()) -> tuple[MotionDataset, MotionDataset]:
        """(training clips, held-out clips: those named and those meta.json marks), sharing the statistics."""
        unknown = set(held_out) - {c.name for c in self.clips}
        if unknown:
            raise GeneratorError(f"held-out clips not in the dataset: {', '.join(sorted(unknown))}")
        keep = [c for c in self.clips if c.name not in held_out and not c.held_out]
        out = [c for c in self.clips if c.name in held_out or c.held_out]
        if not keep:
            raise GeneratorError("every clip is held out: nothing is left to train on")
        return _with(self, keep), _with(self, out)


def _with(dataset: MotionDataset, clips: list[MotionClip]) -> MotionDataset:
    return dataclasses.replace(dataset, clips=clips)


def load_dataset(root: Path, *, audio_stats_exclude: Sequence[str] = ()) -> MotionDataset:
    """Read a prepared dataset directory; audio statistics from its audible clips not in ``audio_stats_exclude``."""
    root = Path(root)
    try:
        meta = json.loads((root / "meta.json").read_text())
        names = [str(n) for n in meta["latent_names"]]
    except OSError as exc:
        raise GeneratorError(
            f"no motion dataset at {root}: {exc.strerror or exc} (run `likeness generator prepare`)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise GeneratorError(f"{root / 'meta.json'} is malformed ({exc!r})") from None
    info = {str(c.get("name", c.get("clip", ""))): c for c in meta.get("clips", []) if isinstance(c, dict)}
    files = sorted(p for p in root.glob("*.npz") if p.stem != "pca" and p.stem not in {"basis"})
    raw: list[tuple[str, np.ndarray, np.ndarray, bool, int, bool]] = []
    for path in files:
        with np.load(path, allow_pickle=False) as npz:
            if "latent" not in npz or "audio" not in npz:
                continue
            latent, audio = np.asarray(npz["latent"], np.float32), np.asarray(npz["audio"], np.float32)
        if latent.ndim != 2 or latent.shape[1] != len(names) or audio.ndim != 2 or len(audio) != len(latent):
            raise GeneratorError(f"{path.name}: latent {latent.shape} / audio {audio.shape} do not match meta.json")
        clip_info = info.get(path.stem, {})
        has_audio = bool(clip_info.get("has_audio", float(audio.std(axis=0).mean()) > 1e-6))
        emotion = clip_info.get("emotion")
        label = EMOTION_NAMES.index(emotion) if emotion in EMOTION_NAMES else NO_EMOTION
        raw.append((path.stem, latent, audio, has_audio, label, clip_info.get("split") == "holdout"))
    if not raw:
        raise GeneratorError(f"no clips (<clip>.npz with latent and audio) in {root}")
    stacked = np.concatenate([r[1] for r in raw])
    mean, std = _latent_stats(meta, stacked)
    # audio features are centred per clip (each feature minus its mean over the clip): the model hears
    # changes within a recording, not the recording's level or microphone, which a handful of
    # speakers cannot teach it to ignore; inference centres its input the same way
    raw = [(name, latent, audio - audio.mean(axis=0) if has_audio else np.zeros_like(audio), has_audio, label, held)
           for name, latent, audio, has_audio, label, held in raw]
    audible = [r[2] for r in raw if r[3] and not r[5] and r[0] not in audio_stats_exclude]
    audio_all = np.concatenate(audible) if audible else np.concatenate([r[2] for r in raw])
    audio_mean, audio_std = audio_all.mean(axis=0), audio_all.std(axis=0) + 1e-4
    clips = [MotionClip(name, (latent - mean) / std, audio, has_audio, label, held)
             for name, latent, audio, has_audio, label, held in raw]
    return MotionDataset(latent_names=names, latent_mean=mean, latent_std=std,
                         audio_mean=audio_mean.astype(np.float32), audio_std=audio_std.astype(np.float32),
                         fps=float(meta.get("fps", 25.0)), clips=clips, root=root)


def _latent_stats(meta: dict, stacked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stats = meta.get("stats") or meta.get("statistics") or {}
    mean = stats.get("mean", stats.get("latent_mean", meta.get("latent_mean")))
    std = stats.get("std", stats.get("latent_std", meta.get("latent_std")))
    if mean is None or std is None:
        mean, std = stacked.mean(axis=0), stacked.std(axis=0)
    mean = np.asarray(mean, np.float32).reshape(-1)
    std = np.maximum(np.asarray(std, np.float32).reshape(-1), 1e-4)
    if mean.shape[0] != stacked.shape[1] or std.shape[0] != stacked.shape[1]:
        raise GeneratorError("meta.json's latent statistics do not match the latent size")
    return mean, std


class WindowSampler:
    """Random training windows: ``context`` clean frames then ``window`` frames to denoise."""

    def __init__(self, dataset: MotionDataset, *, window: int, context: int, p_no_context: float = 0.15,
                 audio_noise: float = 0.0) -> None:
        self.dataset, self.window, self.context, self.p_no_context = dataset, window, context, p_no_context
        self.audio_noise = audio_noise
        usable = [c for c in dataset.clips if len(c.latent) >= window]
        if not usable:
            raise GeneratorError(f"no clip has the {window} frames a training window needs")
        self.clips = usable
        weights = np.array([len(c.latent) - window + 1 for c in usable], np.float64)
        self.weights = torch.tensor(weights / weights.sum())
        self.gaze = [dataset.index("gaze_x"), dataset.index("gaze_y")]
        self.distance = dataset.index("log_scale")
        self.audio_mean = torch.from_numpy(dataset.audio_mean)
        self.audio_std = torch.from_numpy(dataset.audio_std)

    def batch(self, size: int, *, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        picks = torch.multinomial(self.weights, size, replacement=True, generator=generator).tolist()
        clean, context, has_context, audio, has_audio, emotion = [], [], [], [], [], []
        for k in picks:
            clip = self.clips[k]
            start = int(torch.randint(0, len(clip.latent) - self.window + 1, (1,), generator=generator))
            with_context = start >= self.context and float(torch.rand(1, generator=generator)) >= self.p_no_context
            ctx = clip.latent[start - self.context : start] if with_context else np.zeros(
                (self.context, clip.latent.shape[1]), np.float32)
            lo = start - self.context
            sound = clip.audio[max(lo, 0) : start + self.window]
            if lo < 0:
                sound = np.concatenate([np.repeat(sound[:1], -lo, axis=0), sound])
            clean.append(clip.latent[start : start + self.window])
            context.append(ctx)
            has_context.append(with_context)
            audio.append(sound)
            has_audio.append(clip.has_audio)
            emotion.append(clip.emotion)
        x = torch.from_numpy(np.stack(clean))
        sound = (torch.from_numpy(np.stack(audio)) - self.audio_mean) / self.audio_std
        if self.audio_noise:
            sound = sound + self.audio_noise * torch.randn(sound.shape, generator=generator)
        conditions = window_conditions(
            x, gaze_index=self.gaze, distance_index=self.distance,
            context=torch.from_numpy(np.stack(context)), has_context=torch.tensor(has_context),
            audio=sound,
            has_audio=torch.tensor(has_audio), emotion=torch.tensor(emotion, dtype=torch.long),
        )
        return x, conditions


def window_conditions(
    clean: torch.Tensor, *, gaze_index: list[int | None], distance_index: int | None, context: torch.Tensor,
    has_context: torch.Tensor, audio: torch.Tensor, has_audio: torch.Tensor, emotion: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """The model's keyword inputs for windows whose conditions are measured on the clean latents."""
    batch = clean.shape[0]
    if None in gaze_index:
        gaze, has_gaze = torch.zeros(batch, 2), torch.zeros(batch, dtype=torch.bool)
    else:
        gaze, has_gaze = clean[:, :, gaze_index].mean(dim=1), torch.ones(batch, dtype=torch.bool)
    if distance_index is None:
        distance, has_distance = torch.zeros(batch, 1), torch.zeros(batch, dtype=torch.bool)
    else:
        distance, has_distance = clean[:, :, [distance_index]].mean(dim=1), torch.ones(batch, dtype=torch.bool)
    return {"context": context, "has_context": has_context, "audio": audio, "has_audio": has_audio,
            "gaze": gaze, "has_gaze": has_gaze, "distance": distance, "has_distance": has_distance,
            "emotion": emotion}
