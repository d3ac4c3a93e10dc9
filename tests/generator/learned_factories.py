"""A small synthetic motion dataset in the format of generator.motion_data.prepare_dataset (for the learned tests).

The motion is made to depend on the audio in known ways, so a test can check that a trained model
picked the dependence up: the first expression coefficient (the "jaw") follows the first audio
feature (a loudness-like envelope) one frame later, the head's pitch nods after loudness onsets,
and blinks are brief pulses; clips without audio have flat features and no jaw motion.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

K = 12
LATENT_NAMES = ["yaw", "pitch", "roll", "tx", "ty", "log_scale", *[f"expr_{i:02d}" for i in range(K)],
                "blink_left", "blink_right", "gaze_x", "gaze_y"]
AUDIO_DIM = 16
FPS = 25.0


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    kernel = np.hanning(width)
    kernel /= kernel.sum()
    return np.convolve(x, kernel, mode="same")


def synthetic_clip(rng: np.random.Generator, frames: int, *, has_audio: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(latent [frames, D], audio [frames, F]) with the jaw driven by the loudness feature."""
    syllables = (rng.random(frames) < 0.18).astype(np.float64)
    loud = np.clip(_smooth(syllables, 7) * 3.0, 0, 1) if has_audio else np.zeros(frames)
    audio = np.zeros((frames, AUDIO_DIM))
    if has_audio:
        audio[:, 0] = loud
        audio[:, 1:] = loud[:, None] * rng.uniform(0.5, 1.5, AUDIO_DIM - 1) + 0.05 * rng.standard_normal(
            (frames, AUDIO_DIM - 1))
    latent = np.zeros((frames, len(LATENT_NAMES)))
    t = np.arange(frames) / FPS
    onset = np.clip(np.diff(loud, prepend=0.0), 0, None)
    latent[:, 0] = 4 * np.sin(2 * np.pi * t / rng.uniform(3, 6) + rng.uniform(0, 6)) + rng.normal(0, 0.1, frames)
    latent[:, 1] = 20 * _smooth(onset, 9) + 1.5 * np.sin(2 * np.pi * t / 4.3 + rng.uniform(0, 6))
    latent[:, 2] = 2 * np.sin(2 * np.pi * t / 7.1 + rng.uniform(0, 6))
    latent[:, 3] = 0.35 * latent[:, 0]
    latent[:, 4] = 0.25 * latent[:, 1]
    latent[:, 5] = rng.normal(0, 0.02) + 0.005 * np.sin(2 * np.pi * t / 9.0)
    jaw = np.roll(loud, 1) * 2.5 - 0.8
    latent[:, 6] = jaw
    walk = rng.standard_normal((frames, K - 1)).cumsum(axis=0)
    latent[:, 7:6 + K] = 0.3 * walk / np.sqrt(np.arange(1, frames + 1))[:, None]
    blinks = np.zeros(frames)
    for start in np.flatnonzero(rng.random(frames) < 0.012):
        shape = np.array([0.5, 1, 1, 0.7, 0.4, 0.1])[: frames - start]
        blinks[start:start + len(shape)] = np.maximum(blinks[start:start + len(shape)], shape)
    latent[:, 6 + K] = blinks
    latent[:, 7 + K] = blinks
    latent[:, 8 + K] = rng.normal(0, 0.3)
    latent[:, 9 + K] = rng.normal(0, 0.15)
    return latent.astype(np.float32), audio.astype(np.float32)


def write_synthetic_dataset(out_dir: Path, *, clips: int = 4, seconds: float = 8.0, seed: int = 0,
                            silent: tuple[int, ...] = (0,)) -> Path:
    """``clips`` clips (those in ``silent`` without audio) as ``<clip>.npz`` plus ``meta.json``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    frames = int(seconds * FPS)
    entries, latents = [], []
    for k in range(clips):
        name = f"syn_{k}"
        has_audio = k not in silent
        latent, audio = synthetic_clip(rng, frames, has_audio=has_audio)
        np.savez(out_dir / f"{name}.npz", latent=latent, audio=audio, fps=np.float32(FPS))
        entries.append({"name": name, "frames": frames, "seconds": frames / FPS, "has_audio": has_audio})
        latents.append(latent)
    stacked = np.concatenate(latents)
    np.savez(out_dir / "pca.npz", mean=np.zeros(30, np.float32), components=np.eye(K, 30, dtype=np.float32),
             scales=np.ones(K, np.float32))
    meta = {"latent_names": LATENT_NAMES, "audio_dim": AUDIO_DIM, "fps": FPS, "clips": entries,
            "pca": "pca.npz", "stats": {"mean": stacked.mean(0).tolist(), "std": stacked.std(0).tolist()}}
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=1))
    return out_dir
