"""Motion model files: weights and everything inference needs, in one safetensors file, and its card.

>>> from generator.learned.checkpoint import SHIPPED_CARD
>>> SHIPPED_CARD.name
'motion-small-v1.json'

A model file holds the network's weights, the latent and audio standardisation (``stats.*``
tensors) and, as string metadata, the config, the latent names and the frame rate. Training
checkpoints (``last.safetensors``) add the optimiser's state (``optim.*``) and the step, so a run
resumes where it stopped. A card (JSON beside the file) names the file and its SHA-256; loading
through a card refuses a file whose hash differs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from generator.errors import GeneratorError
from generator.learned import _safetensors
from generator.learned.data import Standardisation
from generator.learned.model import MotionDenoiser, MotionModelConfig
from media import file_sha256

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
SHIPPED_CARD = MODELS_DIR / "motion-small-v1.json"


@dataclass
class MotionModel(Standardisation):
    """A loaded motion model: the network in eval mode plus its training data's :class:`Standardisation`."""

    net: MotionDenoiser
    emotions: list[int] = field(default_factory=list)  # the emotion labels training saw (indices)
    audio_centering: str = "none"  # "clip": features minus their mean over the clip, as in training
    metadata: dict[str, str] = field(default_factory=dict, repr=False)
    sha256: str = ""
    card: dict[str, Any] = field(default_factory=dict)
    card_dir: Path | None = None  # where the card (and the files it names) lives

    @property
    def config(self) -> MotionModelConfig:
        return self.net.config


def model_tensors(net: torch.nn.Module, *, stats: Standardisation) -> dict[str, torch.Tensor]:
    tensors = {f"net.{k}": v.detach().float().cpu() for k, v in net.state_dict().items()}
    for name in ("latent_mean", "latent_std", "audio_mean", "audio_std"):
        tensors[f"stats.{name}"] = torch.as_tensor(np.asarray(getattr(stats, name), np.float32))
    return tensors


def model_metadata(config: MotionModelConfig, *, stats: Standardisation, **extra: Any) -> dict[str, str]:
    return {"format": "likeness-motion-model/1", "config": json.dumps(config.to_dict()),
            "latent_names": json.dumps(stats.latent_names), "fps": repr(float(stats.fps)),
            **{k: v if isinstance(v, str) else json.dumps(v) for k, v in extra.items()}}


def load_model(path: Path, *, sha256: str | None = None, device: str = "cpu") -> MotionModel:
    """The model in ``path``; with ``sha256``, only if the file has that hash."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise GeneratorError(f"cannot read the motion model {path}: {exc.strerror or exc}") from None
    digest = hashlib.sha256(blob).hexdigest()
    if sha256 is not None and digest != sha256:
        raise GeneratorError(f"the motion model {path.name} does not match its card (sha256 {digest[:16]}…, "
                             f"expected {sha256[:16]}…): refusing to use it")
    try:
        tensors, meta = _safetensors.loads(blob)
        config = MotionModelConfig.from_dict(json.loads(meta["config"]))
        names = [str(n) for n in json.loads(meta["latent_names"])]
        fps = float(meta["fps"])
        emotions = [int(e) for e in json.loads(meta.get("emotions", "[]"))]
        centering = meta.get("audio_centering", "none")
        stats = {k.removeprefix("stats."): v.numpy() for k, v in tensors.items() if k.startswith("stats.")}
        weights = {k.removeprefix("net."): v for k, v in tensors.items() if k.startswith("net.")}
        net = MotionDenoiser(config)
        net.load_state_dict(weights)
    except _safetensors.SafetensorsError as exc:
        raise GeneratorError(f"the motion model {path.name} is not a safetensors file: {exc}") from None
    except (KeyError, ValueError, RuntimeError) as exc:
        raise GeneratorError(f"the motion model {path.name} is malformed or does not fit its config ({exc})") from None
    if len(names) != config.latent_dim:
        raise GeneratorError(f"the motion model {path.name} names {len(names)} latents but has {config.latent_dim}")
    net.to(device).eval()
    return MotionModel(net=net, latent_names=names, latent_mean=stats["latent_mean"], latent_std=stats["latent_std"],
                       audio_mean=stats["audio_mean"], audio_std=stats["audio_std"], fps=fps, emotions=emotions,
                       audio_centering=centering, metadata=meta, sha256=digest)


def read_card(card_path: Path) -> dict[str, Any]:
    try:
        card = json.loads(Path(card_path).read_text())
        card["file"], card["sha256"]
    except OSError as exc:
        raise GeneratorError(f"cannot read the motion model card {card_path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise GeneratorError(f"the motion model card {card_path} is malformed ({exc!r})") from None
    return card


def load_from_card(card_path: Path | None = None, *, device: str = "cpu") -> MotionModel:
    """The model a card names (default: the shipped small model), after checking its SHA-256."""
    card_path = Path(card_path or SHIPPED_CARD)
    card = read_card(card_path)
    model = load_model(card_path.parent / card["file"], sha256=card["sha256"], device=device)
    model.card, model.card_dir = card, card_path.parent
    return model


def write_card(
    model_path: Path,
    *,
    basis_path: Path,
    dest: Path,
    version: str,
    training: dict[str, Any],
    evaluation: dict[str, Any],
    limits: list[str],
) -> Path:
    """Copy a trained model and its expression basis into ``dest`` and write the card naming both by SHA-256."""
    model = load_model(model_path)
    dest = Path(dest)
    (dest.parent if dest.suffix == ".json" else dest).mkdir(parents=True, exist_ok=True)
    stem = dest.stem if dest.suffix == ".json" else f"motion-{model.config.name}-v{version.split('.')[0]}"
    card_path = dest if dest.suffix == ".json" else dest / f"{stem}.json"
    target, basis_target = card_path.with_name(f"{stem}.safetensors"), card_path.with_name(f"{stem}.basis.npz")
    tensors, metadata = _safetensors.load_file(model_path)
    # half precision halves the file; inference loads it into float32 (differences ~1e-3 of a latent's std)
    tensors = {k: v.half() if k.startswith("net.") else v for k, v in tensors.items()}
    _safetensors.save_file(tensors, target, metadata=metadata)
    basis_target.write_bytes(Path(basis_path).read_bytes())
    blob = target.read_bytes()
    card = {
        "name": f"likeness-motion-{model.config.name}",
        "version": version,
        "file": target.name,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "bytes": len(blob),
        "format": "safetensors: net.* (the MotionDenoiser's weights, float16), stats.* (latent and audio "
                  "standardisation); metadata: config, latent_names, fps, training step, clips",
        "architecture": {
            "description": "transformer encoder (pre-norm) over one condition token (noise level, gaze, head "
                           "distance, emotion) plus context and noisy motion-latent tokens with per-frame audio "
                           "features; predicts the clean latents (flow matching, straight path); classifier-free "
                           "guidance; trained from scratch, no pretrained weights",
            "config": model.config.to_dict(),
            "parameters": model.net.parameter_count(),
        },
        "latent_names": model.latent_names,
        "fps": model.fps,
        "emotions_trained": [name for i, name in enumerate(("neutral", "happy", "sad", "surprised", "angry"))
                             if i in model.emotions],
        "basis": {"file": basis_target.name, "sha256": file_sha256(basis_target),
                  "what": "generator.motion_data.MotionBasis (expression PCA and its map to the renderer's controls)"},
        "sampling": {"steps": model.config.steps, "guidance_audio": 1.5, "guidance_conditions": 1.0},
        "training": training,
        "evaluation": evaluation,
        "limits": limits,
    }
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    return card_path
