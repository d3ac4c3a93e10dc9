"""The dataset of motion sequences aligned with audio: tracking clips, latents, and the files on disk.

>>> from generator.motion_data.dataset import prepare_dataset    # doctest: +SKIP
>>> prepare_dataset(Path("clips"), out_dir=Path("var/motion"))      # doctest: +SKIP

:func:`prepare_dataset` turns a tree of clips into ``<clip>.npz`` files plus ``meta.json`` and
``pca.npz``; :func:`poses_from_latent` decodes latents into the renderer's
:class:`~generator.pose.FramePose` parameters; :func:`clip_latent` is one clip's latent.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from faces import FaceTracker
from faces.landmarks import FaceLandmarks
from generator.errors import GeneratorError
from generator.motion import MotionTrack
from generator.motion_data.audio import audio_features, load_audio_encoder
from generator.motion_data.basis import MotionBasis, explained_variance, fit_basis
from generator.motion_data.geometry import ClipMotion, canonical_motion, renderer_response, smooth_time
from generator.motion_data.layout import (
    AUDIO_DIM,
    AUDIO_FEATURE_NAMES,
    EXPRESSION_CONTROLS,
    EYE_NAMES,
    FPS,
    MAX_MISSING,
    N_EXPR,
    POSE_NAMES,
    latent_names,
)
from generator.speech import SpeechTrack
from media import Audio, MediaError, iter_frames, probe_video, read_audio

logger = logging.getLogger(__name__)


# --- latents ------------------------------------------------------------------------------------


def _resample(values: np.ndarray, *, fps_in: float, fps_out: float, n_out: int) -> np.ndarray:
    """Linear interpolation in time of (T, …) values sampled at ``fps_in`` onto ``n_out`` frames at ``fps_out``."""
    if abs(fps_in - fps_out) < 1e-6 and len(values) == n_out:
        return values
    t_in = np.arange(len(values)) / fps_in
    t_out = np.arange(n_out) / fps_out
    flat = values.reshape(len(values), -1)
    out = np.stack([np.interp(t_out, t_in, flat[:, j]) for j in range(flat.shape[1])], axis=1)
    return out.reshape((n_out, *values.shape[1:]))


def latent_from_motion(motion: ClipMotion, *, basis: MotionBasis, fps: float = FPS) -> np.ndarray:
    """(T', D) float32 latents of one clip's motion at ``fps`` (T' = the clip's length at that rate)."""
    z = np.column_stack([motion.pose, basis.encode(motion.deltas), motion.eyes])
    n_out = max(1, math.floor(len(z) / motion.fps * fps + 1e-6))
    return _resample(z, fps_in=motion.fps, fps_out=fps, n_out=n_out).astype(np.float32)


def track_clip(path: Path | str) -> tuple[np.ndarray, float, np.ndarray | None, FaceLandmarks | None]:
    """(points (T, 478, 3), NaN rows where no face is found; the clip's fps; a frame with a face; its landmarks)."""
    info = probe_video(path)
    rows: list[np.ndarray] = []
    frames: list[np.ndarray] = []
    found: list[FaceLandmarks | None] = []
    nan = np.full((478, 3), np.nan, np.float32)
    with FaceTracker() as tracker:
        for i, frame in enumerate(iter_frames(path)):
            lm = tracker.track(frame)
            rows.append(nan if lm is None else lm.points)
            if i % 25 == 0:  # keep a few frames to build a rig from (renderer calibration)
                frames.append(frame)
                found.append(lm)
    if not rows:
        raise GeneratorError(f"{path}: no frames decode")
    candidates = [(f, lm) for f, lm in zip(frames, found, strict=True) if lm is not None]
    middle, middle_lm = candidates[len(candidates) // 2] if candidates else (None, None)
    return np.stack(rows), float(info.fps), middle, middle_lm


def clip_audio(path: Path | str) -> tuple[Audio | None, str]:
    """The clip's audio and a note: (audio, "speech"), (audio, "silent"), or (None, "no audio track")."""
    try:
        audio = read_audio(path)
    except MediaError:
        return None, "no audio track"
    peak = float(np.abs(audio.samples).max(initial=0.0))
    return audio, ("silent" if peak < 1e-3 else "speech")


def poses_from_latent(
    latent: np.ndarray, *, basis: MotionBasis, fps: float, speech: SpeechTrack | None = None, smooth_s: float = 0.0
) -> MotionTrack:
    """Decode latents (T, D) into the renderer's per-frame parameters.

    Head pose, blinks and gaze come straight from their entries (``scale = exp(log_scale)``);
    jaw_open, lip_width, smile and brow_raise from the expression coefficients through the basis's
    least-squares map. The mouth details the mesh cannot see — lip_tuck (F/V), teeth and tongue —
    and lip_press (P/B/M closure: MediaPipe's closed lips do not tell pressed from resting) come
    from ``speech``'s visemes when it is given, as in the default backend; otherwise they stay 0.

    ``smooth_s`` low-passes every entry but the blinks with a Gaussian of that many seconds before
    decoding — :data:`SMOOTH_S` (40 ms) band-limits generated motion like the training latents
    (docs/learned_generator.md: it brings the shipped model's jitter to the real clips' level).
    """
    z = np.asarray(latent, np.float64)
    d = len(latent_names(basis.n_expr))
    if z.ndim != 2 or z.shape[1] != d:
        raise GeneratorError(f"latents must have shape (T, {d}) for this basis, not {z.shape}")
    if not np.isfinite(z).all():
        raise GeneratorError("the latents contain NaN or infinite values")
    if not 0.0 <= smooth_s <= 1.0:
        raise GeneratorError(f"smooth_s must be between 0 and 1 s, not {smooth_s}")
    k = basis.n_expr
    if smooth_s > 0.0:
        blinks = z[:, 6 + k: 8 + k].copy()
        z = smooth_time(z, smooth_s * float(fps))
        z[:, 6 + k: 8 + k] = blinks
    arrays: dict[str, np.ndarray] = {name: z[:, i] for i, name in enumerate(POSE_NAMES[:5])}
    arrays["scale"] = np.exp(np.clip(z[:, 5], -0.5, 0.5))
    controls = np.column_stack([z[:, 6:6 + k], np.ones(len(z))]) @ basis.pose_map
    arrays["jaw_open"] = np.clip(controls[:, 0], 0.0, 1.0)
    for j, name in enumerate(EXPRESSION_CONTROLS[1:], start=1):
        arrays[name] = np.clip(controls[:, j], -1.0, 1.0)
    for j, name in enumerate(EYE_NAMES):
        low = 0.0 if name.startswith("blink") else -1.0
        arrays[name] = np.clip(z[:, 6 + k + j], low, 1.0)
    if speech is not None:
        n = len(z)

        def take(values: np.ndarray) -> np.ndarray:  # the speech track's frames, cut or held at its last value
            v = np.asarray(values, np.float64)[:n]
            return np.pad(v, (0, n - len(v)), mode="edge") if 0 < len(v) < n else (v if len(v) else np.zeros(n))
        arrays["lip_tuck"] = take(speech.lip_tuck)
        arrays["teeth"] = np.maximum(take(speech.teeth), 0.6 * arrays["jaw_open"])
        arrays["tongue"] = take(speech.tongue)
        arrays["lip_press"] = take(speech.lip_press)
    return MotionTrack({name: v.astype(np.float32) for name, v in arrays.items()}, fps=float(fps))


# --- the dataset ---------------------------------------------------------------------------------


def _clip_name(path: Path, root: Path) -> str:
    return "__".join(path.relative_to(root).with_suffix("").parts)


def prepare_dataset(
    clips_dir: Path | str,
    *,
    out_dir: Path | str,
    fps: float = FPS,
    n_expr: int = N_EXPR,
    holdout: Sequence[str] = (),
    audio_encoder: Path | str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Turn a tree of clips (``*.mp4`` at any depth: VoxCeleb2's id/video/clip.mp4 or a flat folder) into a dataset.

    Writes ``out_dir/<clip>.npz`` (``latent`` [T, D] float32, ``audio`` [T, AUDIO_DIM] float32,
    ``fps``), ``out_dir/pca.npz`` (the :class:`MotionBasis`) and ``out_dir/meta.json``; returns
    ``out_dir``. Clip names are their paths under ``clips_dir`` with ``/`` as ``__``. Clips named in
    ``holdout`` are written too but the PCA and its map are fitted without them (``split``:
    ``"holdout"`` in meta.json; training must skip them). A clip without an audio track or with
    a silent one gets the features of silence and ``has_audio: false``. ``audio_encoder`` (a
    torch.export or TorchScript file, :class:`AudioEncoder`) appends its hidden states to every clip's audio
    features and is named with its SHA-256 in meta.json. ``out_dir`` must not exist
    or be empty; everything is written to a temporary folder beside it first, so a failure leaves
    nothing half-written.
    """
    clips_dir, out_dir = Path(clips_dir), Path(out_dir)
    if not clips_dir.is_dir():
        raise GeneratorError(f"the clips folder {clips_dir} does not exist")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise GeneratorError(f"{out_dir} already exists and is not empty; choose a new output folder")
    if not 1 <= n_expr <= 64:
        raise GeneratorError(f"the number of expression components must be 1–64, not {n_expr}")
    if not 1.0 <= fps <= 60.0:
        raise GeneratorError(f"fps must be between 1 and 60, not {fps}")
    paths = sorted(clips_dir.rglob("*.mp4"))
    if not paths:
        raise GeneratorError(f"no .mp4 clips under {clips_dir}")
    names = {_clip_name(p, clips_dir): p for p in paths}
    unknown = sorted(set(holdout) - set(names))
    if unknown:
        raise GeneratorError(f"held-out clips not found under {clips_dir}: {', '.join(unknown)}")
    say = progress or (lambda _msg: None)
    encoder = load_audio_encoder(audio_encoder) if audio_encoder is not None else None

    motions: dict[str, ClipMotion] = {}
    skipped: dict[str, str] = {}
    response: np.ndarray | None = None
    tracks: dict[str, np.ndarray] = {}
    clip_fps: dict[str, float] = {}
    for name, path in names.items():
        say(f"tracking {name}")
        try:
            points, rate, frame, lm = track_clip(path)
        except (MediaError, GeneratorError) as exc:
            skipped[name] = str(exc)
            logger.warning("skipping %s: %s", name, exc)
            continue
        missing = float(np.mean(~np.isfinite(points).all(axis=(1, 2))))
        if missing > MAX_MISSING:
            skipped[name] = f"the face is lost in {missing:.0%} of its frames"
            continue
        if response is None and frame is not None and lm is not None and name not in holdout:
            response = renderer_response(frame, lm)
        tracks[name], clip_fps[name] = points, rate
    train = [n for n in tracks if n not in holdout]
    if not train or response is None:
        raise GeneratorError(f"no usable training clip under {clips_dir} ({'; '.join(skipped.values()) or 'none'})")
    for name, points in tracks.items():
        motions[name] = canonical_motion(points, fps=clip_fps[name], response=response)
    say("fitting the expression basis")
    basis = fit_basis([motions[n].deltas for n in train], controls=[motions[n].controls for n in train], n_expr=n_expr)
    basis = MotionBasis(mean=basis.mean, components=basis.components, scales=basis.scales, pose_map=basis.pose_map,
                        pose_map_r2=basis.pose_map_r2, fps=float(fps))

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    staging.chmod(0o755)  # mkdtemp's 0700 would hide the dataset from the training jobs of other users
    try:
        clips_meta = []
        latents = []
        for name, motion in motions.items():
            say(f"writing {name}")
            latent = latent_from_motion(motion, basis=basis, fps=fps)
            audio, note = clip_audio(names[name])
            has_audio = audio is not None and note == "speech"
            if audio is None or not has_audio:  # the features of silence, as long as the clip
                audio = Audio(np.zeros(max(1, round(len(latent) / fps * 16_000)), np.float32), 16_000)
            feats = audio_features(audio, fps=fps, n_frames=len(latent), encoder=encoder)
            np.savez(staging / f"{name}.npz", latent=latent, audio=feats, fps=np.float32(fps))
            split = "holdout" if name in holdout else "train"
            if split == "train":
                latents.append(latent)
            clips_meta.append({"name": name, "file": f"{name}.npz", "source": str(names[name].relative_to(clips_dir)),
                               "frames": len(latent), "seconds": round(len(latent) / fps, 3),
                               "source_fps": clip_fps[name], "has_audio": has_audio, "audio": note,
                               "tracked": round(float(motion.tracked.mean()), 4), "split": split})
        basis.save(staging / "pca.npz")
        stacked = np.concatenate(latents)
        meta = {
            "format": 1,
            "fps": fps,
            "latent_names": basis.latent_names,
            "latent_dim": len(basis.latent_names),
            "n_expr": basis.n_expr,
            "audio_dim": AUDIO_DIM + (encoder.dim if encoder else 0),
            "audio_names": list(AUDIO_FEATURE_NAMES) + [f"enc_{j:03d}" for j in range(encoder.dim if encoder else 0)],
            "audio_encoder": None if encoder is None else {"file": encoder.path.name, "sha256": encoder.sha256,
                                                           "dim": encoder.dim, "rate": encoder.rate},
            "pca": "pca.npz",
            "clips": clips_meta,
            "skipped": skipped,
            "stats": {"mean": stacked.mean(axis=0).round(6).tolist(), "std": stacked.std(axis=0).round(6).tolist()},
            "expression": {
                "explained_variance": round(explained_variance([motions[n].deltas for n in train], basis), 4),
                "controls": list(EXPRESSION_CONTROLS),
                "controls_r2": [round(float(v), 4) for v in basis.pose_map_r2],
            },
        }
        (staging / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def clip_latent(path: Path | str, *, basis: MotionBasis, fps: float = FPS) -> tuple[np.ndarray, ClipMotion]:
    """A clip's latents under an existing basis (held-out evaluation), and its motion at its own rate."""
    points, rate, _, _ = track_clip(path)
    motion = canonical_motion(points, fps=rate)
    return latent_from_motion(motion, basis=basis, fps=fps), motion
