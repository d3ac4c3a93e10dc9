"""The motion latent space of the learned generator, and the dataset of motion sequences aligned with audio.

>>> import numpy as np
>>> from generator.motion_data import AUDIO_DIM, audio_features, latent_names
>>> from media import Audio
>>> t = np.arange(16_000, dtype=np.float32) / 16_000
>>> tone = Audio(0.3 * np.sin(2 * np.pi * 150 * t).astype(np.float32), 16_000)
>>> feats = audio_features(tone, fps=25, n_frames=25)
>>> feats.shape == (25, AUDIO_DIM), feats.dtype.name
(True, 'float32')
>>> names = latent_names(12)
>>> len(names), names[:6], names[-4:]
(22, ['yaw', 'pitch', 'roll', 'tx', 'ty', 'log_scale'], ['blink_left', 'blink_right', 'gaze_x', 'gaze_y'])

One latent vector ``z_t`` per video frame at a fixed rate (25 fps; clips at other rates are
resampled), float32, ``D = 6 + K + 4``:

- **head pose** ``yaw, pitch, roll`` (degrees, :func:`faces.head_pose`'s conventions = FramePose's),
  ``tx, ty`` (pixels of the generator's 512² frame, where the interocular distance is 18 % of the
  frame) and ``log_scale``, all relative to the clip's median pose. ``tx, ty`` are the face's
  translation *after* the part that the renderer's rotation about its neck pivot already causes,
  so feeding them back to the renderer does not move the head twice.
- **K expression coefficients**: the landmarks are canonicalised (a similarity fit on rigid points
  removes the head's rotation, translation and scale; the clip's reference shape is turned
  frontal and scaled to unit interocular distance), the clip's median shape is subtracted (what
  is left is motion, not identity), and a PCA fitted on the training clips (468 mesh points in
  3D without the eyes and irises, whose motion is in the blink and gaze entries) gives K
  coefficients whitened to unit variance.
- ``blink_left, blink_right``: 0 open … 1 closed, from the eye aspect ratio normalised per clip.
- ``gaze_x, gaze_y``: the irises' offset in the eye, in units of the renderer's iris travel
  (−1 … 1), relative to the clip's median gaze (taken as looking at the camera).

:func:`audio_features` gives the per-frame audio condition (40 log-mel bands, log pitch, voicing,
loudness), computed the same way in training and inference. :func:`prepare_dataset` turns a tree
of clips into ``<clip>.npz`` files plus ``meta.json`` and ``pca.npz``; :func:`poses_from_latent`
decodes latents into the renderer's :class:`~generator.pose.FramePose` parameters.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faces import FaceTracker, head_pose
from faces import mesh as fm
from faces.landmarks import FaceLandmarks
from generator.errors import GeneratorError
from generator.motion import MotionTrack
from generator.pose import FramePose
from generator.render import _rotation, frame_landmarks
from generator.rig import build_rig
from generator.speech import SpeechTrack
from media import Audio, MediaError, iter_frames, probe_video, read_audio
from speech import prosody as _prosody

logger = logging.getLogger(__name__)

FPS = 25.0
N_EXPR = 12
POSE_NAMES = ("yaw", "pitch", "roll", "tx", "ty", "log_scale")
EYE_NAMES = ("blink_left", "blink_right", "gaze_x", "gaze_y")
N_MELS = 40
MEL_FMIN, MEL_FMAX = 60.0, 7600.0
AUDIO_FEATURE_NAMES = (*(f"mel_{i:02d}" for i in range(N_MELS)), "log_pitch", "voicing", "loudness")
AUDIO_DIM = len(AUDIO_FEATURE_NAMES)
FRAME_SIZE = 512
FRAME_UNIT = 0.18 * FRAME_SIZE  # the generator's interocular distance in frame pixels (rig.INTEROCULAR)
# FramePose parameters decoded from the expression coefficients, and the mesh measurements behind them.
EXPRESSION_CONTROLS = ("jaw_open", "lip_width", "smile", "brow_raise")
MEASUREMENTS = ("mouth_gap", "mouth_width", "corner_height", "brow_height")
MAX_MISSING = 0.5  # a clip where the face is lost in more of its frames than this is left out
MIN_FRAMES = 10
SMOOTH_S = 0.04  # Gaussian σ (s) against the tracker's frame-to-frame noise: halves it, keeps 90 % of the mouth's range

# Points that move only with the head: the face oval above the jaw, the nose bridge, the eye corners.
RIGID = tuple(sorted(set(fm.FACE_OVAL[:9] + fm.FACE_OVAL[-8:] + (168, 6, 197, 195, 5, 4)
                         + fm.RIGHT_EYE_CORNERS + fm.LEFT_EYE_CORNERS)))
_EYE_POINTS = set(fm.RIGHT_EYE + fm.LEFT_EYE + fm.RIGHT_IRIS + fm.LEFT_IRIS)
EXPRESSION_POINTS = tuple(i for i in range(468) if i not in _EYE_POINTS)


def latent_names(n_expr: int = N_EXPR) -> list[str]:
    """The names of the latent's dimensions, in order: pose, expression coefficients, eyes."""
    return [*POSE_NAMES, *(f"expr_{k:02d}" for k in range(n_expr)), *EYE_NAMES]


# --- audio features ------------------------------------------------------------------------------


def _mel_filters(n_fft: int, sample_rate: int) -> np.ndarray:
    """(N_MELS, n_fft // 2 + 1) triangular filters on the HTK mel scale, each of unit area."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)  # noqa: E731
    edges = hz(np.linspace(mel(MEL_FMIN), mel(MEL_FMAX), N_MELS + 2))
    bins = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    tri = np.maximum(0.0, np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)))
    return (tri / np.maximum(tri.sum(axis=1, keepdims=True), 1e-9)).astype(np.float32)


_MEL = _mel_filters(_prosody.N_FFT, _prosody.SAMPLE_RATE)


def audio_features(audio: Audio, *, fps: float, n_frames: int, encoder: AudioEncoder | None = None) -> np.ndarray:
    """Per video frame (float32 ``[n_frames, AUDIO_DIM]``): 40 log-mel bands, log pitch, voicing, loudness.

    16 kHz mono, 25 ms Hann windows every 10 ms (NumPy FFT); each video frame averages the power of
    the analysis frames centred inside it. Levels are relative to the recording (its 95th
    percentile frame level is 0 dB, so a quiet or loud recording gives the same features), in
    units of 20 dB, floored 60 dB under that; digital silence sits at the floor (−3). Log pitch is
    in octaves from the speaker's median (0 where unvoiced); voicing and loudness are 0–1 (the
    loudness of :mod:`generator.speech`). Frames past the audio's end get the silence values.

    With an ``encoder`` (:func:`load_audio_encoder`: a wav2vec2-style network the user supplies),
    its hidden states, interpolated to the video frames, follow: ``[n_frames, AUDIO_DIM + encoder.dim]``.
    """
    if not isinstance(audio, Audio):
        raise GeneratorError(f"audio features need media.Audio, not {type(audio).__name__}")
    fps = float(fps)
    if not math.isfinite(fps) or not 1.0 <= fps <= _prosody.FRAME_RATE:
        raise GeneratorError(f"fps must be between 1 and {_prosody.FRAME_RATE:g}, not {fps}")
    if n_frames < 0:
        raise GeneratorError(f"n_frames must be at least 0, not {n_frames}")
    out = np.zeros((n_frames, AUDIO_DIM), np.float32)
    out[:, :N_MELS] = -3.0
    if n_frames == 0 or audio.n_samples == 0:
        if encoder is not None:
            out = np.concatenate([out, np.zeros((n_frames, encoder.dim), np.float32)], axis=1)
        return out
    if not np.isfinite(audio.samples).all():
        raise GeneratorError("the audio contains NaN or infinite samples")
    x = np.clip(audio.to_mono().resample(_prosody.SAMPLE_RATE).samples[0], -1.0, 1.0).astype(np.float32)
    if encoder is not None:
        return np.concatenate([_default_features(x, fps, n_frames, out), encoder.per_frame(x, fps=fps,
                                                                                           n_frames=n_frames)], axis=1)
    return _default_features(x, fps, n_frames, out)


def _default_features(x: np.ndarray, fps: float, n_frames: int, out: np.ndarray) -> np.ndarray:
    frames = _prosody.frame_windows(x, _prosody.WINDOW)
    window = np.hanning(_prosody.WINDOW).astype(np.float32)
    mel = np.concatenate([
        (np.abs(np.fft.rfft(frames[b] * window, n=_prosody.N_FFT, axis=1)) ** 2 / _prosody.WINDOW) @ _MEL.T
        for b in _prosody.blocks_of(len(frames))
    ])
    db = np.concatenate([_prosody.rms_db(frames[b]) for b in _prosody.blocks_of(len(frames))])
    loudness = _prosody.loudness_from_db(db)
    f0, voiced = _prosody.yin(x, active=loudness > 0.05)
    owner = np.floor(np.arange(len(frames)) / _prosody.FRAME_RATE * fps + 1e-9).astype(np.int64)
    keep = owner < n_frames
    owner = owner[keep]
    counts = np.bincount(owner, minlength=n_frames).astype(np.float64)
    has = counts > 0

    def per_frame(values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        v = values[keep].astype(np.float64)
        w = np.ones(len(owner)) if weights is None else weights[keep].astype(np.float64)
        total = np.zeros((n_frames, *v.shape[1:]))
        np.add.at(total, owner, v * (w if v.ndim == 1 else w[:, None]))
        norm = np.bincount(owner, weights=w, minlength=n_frames)
        shape = (-1,) + (1,) * (v.ndim - 1)
        return np.where(norm.reshape(shape) > 0, total / np.maximum(norm, 1e-12).reshape(shape), 0.0)

    power = per_frame(mel)
    band_db = 10.0 * np.log10(np.maximum(power, 1e-12))
    level = 10.0 * np.log10(np.maximum(power.sum(axis=1), 1e-12))
    reference = float(np.percentile(level[has], 95)) if has.any() else 0.0
    rel = np.clip(band_db - reference, -60.0, 10.0)
    rel[band_db < -95.0] = -60.0  # digital silence
    out[has, :N_MELS] = (rel[has] / 20.0).astype(np.float32)
    semitones = np.where(f0 > 0, _prosody.semitones(f0), 0.0) if (f0 > 0).any() else np.zeros_like(f0)
    is_voiced = (f0 > 0).astype(np.float64)
    pitch = per_frame(semitones / 12.0, is_voiced)
    out[:, N_MELS] = np.where(per_frame(is_voiced) > 0, pitch, 0.0)
    out[:, N_MELS + 1] = per_frame(voiced)
    out[:, N_MELS + 2] = per_frame(loudness)
    return out


class AudioEncoder:
    """A wav2vec2-style speech encoder the user supplies as a file (no weights ship or download).

    The module takes a float32 waveform ``[1, samples]`` at 16 kHz, normalised to zero mean and unit
    variance (as wav2vec2's feature extractor does), and returns hidden states ``[1, frames, dim]``
    (or a tuple/list whose first element is that, e.g. a traced Hugging Face model with
    ``return_dict=False``). Its frame rate and width are measured once on a second of silence.
    The file is a ``torch.export`` program (``torch.export.save``, with the sample count as a dynamic
    dimension) or, for older exports, TorchScript (``torch.jit.save``); ``sha256`` identifies it
    in meta.json so training and inference can check they use the same encoder.
    """

    def __init__(self, path: Path | str) -> None:
        import torch

        self.path = Path(path)
        if not self.path.is_file():
            raise GeneratorError(f"no audio encoder at {self.path}")
        try:
            try:
                self._module = torch.export.load(str(self.path)).module()
            except Exception:  # not a torch.export archive: try TorchScript
                self._module = torch.jit.load(str(self.path), map_location="cpu").eval()
            probe = self._hidden(np.zeros(_prosody.SAMPLE_RATE, np.float32))
        except Exception as exc:  # whatever the file holds, the user gets one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise GeneratorError(f"{self.path} is not a usable audio encoder (torch.export or TorchScript): "
                                 f"{first[:200]}") from None
        self.rate = float(probe.shape[0])  # frames per second of audio
        self.dim = int(probe.shape[1])
        self.sha256 = _sha256(self.path)

    def _hidden(self, x: np.ndarray) -> np.ndarray:
        import torch

        wave = torch.from_numpy(((x - x.mean()) / (x.std() + 1e-7)).astype(np.float32))[None]
        with torch.inference_mode():
            hidden = self._module(wave)
        if isinstance(hidden, (tuple, list)):
            hidden = hidden[0]
        if not isinstance(hidden, torch.Tensor) or hidden.ndim != 3 or hidden.shape[0] != 1:
            raise ValueError(f"the encoder must return [1, frames, dim], not {getattr(hidden, 'shape', type(hidden))}")
        return hidden[0].float().numpy()

    def per_frame(self, x: np.ndarray, *, fps: float, n_frames: int) -> np.ndarray:
        """Hidden states of 16 kHz mono ``x`` linearly interpolated to the centres of ``n_frames`` video frames."""
        try:
            hidden = self._hidden(np.pad(x, (0, max(0, _prosody.SAMPLE_RATE - len(x)))))  # at least a second
        except Exception as exc:  # the user's network failing on this audio: one line, not a traceback
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise GeneratorError(f"the audio encoder {self.path.name} failed: {first[:200]}") from None
        t_hidden = (np.arange(len(hidden)) + 0.5) / self.rate
        t_video = (np.arange(n_frames) + 0.5) / fps
        out = np.stack([np.interp(t_video, t_hidden, hidden[:, j]) for j in range(self.dim)], axis=1)
        out[t_video > len(x) / _prosody.SAMPLE_RATE] = 0.0
        return out.astype(np.float32)


def load_audio_encoder(path: Path | str) -> AudioEncoder:
    """The user's wav2vec2-style encoder at ``path`` (torch.export or TorchScript), checked by running it once."""
    return AudioEncoder(path)


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- landmarks → canonical motion ----------------------------------------------------------------


def _umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity (s, R, t) with dst ≈ s · R @ src + t (least squares; 3D points in rows)."""
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mu_s, dst - mu_d
    cov = b.T @ a / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    rot = u @ np.diag(d) @ vt
    var = float((a**2).sum() / len(src))
    s = float((sig * d).sum() / max(var, 1e-12))
    return s, rot, mu_d - s * rot @ mu_s


def _frontal_axes(points: np.ndarray) -> np.ndarray:
    """Rows: the face's left-right axis (to the image's right), its downward axis, its depth axis."""
    left = points[[a for a, _ in fm.SYMMETRIC_PAIRS]]
    right = points[[b for _, b in fm.SYMMETRIC_PAIRS]]
    across = (left - right).sum(axis=0)
    across /= np.linalg.norm(across)
    down = points[fm.SUBNASALE] - points[fm.FOREHEAD]
    down -= (down @ across) * across
    down /= np.linalg.norm(down)
    return np.stack([across, down, np.cross(across, down)])


def _eye_centre_distance(points: np.ndarray) -> float:
    left = points[list(fm.LEFT_EYE)].mean(axis=0)
    right = points[list(fm.RIGHT_EYE)].mean(axis=0)
    return float(np.linalg.norm(left - right))


def measurements(canonical: np.ndarray) -> np.ndarray:
    """(…, 4) mouth gap, mouth width, corner height, brow height of canonical points (…, 478, ≥2), in interoculars.

    y points down the face. Mouth gap: mean inner-lip gap at and beside the centre; corner height:
    the mouth corners' mean height below the inner lips' midline; brow height: the brows' upper edges above
    the eye centres (larger is raised).
    """
    p = np.asarray(canonical, np.float64)
    up = [u for u, _ in fm._INNER_LIP_PAIRS]
    lo = [v for _, v in fm._INNER_LIP_PAIRS]
    gap = (p[..., lo, 1] - p[..., up, 1]).mean(axis=-1)
    width = p[..., fm.MOUTH_CORNERS[1], 0] - p[..., fm.MOUTH_CORNERS[0], 0]
    midline = (p[..., up, 1] + p[..., lo, 1]).mean(axis=-1) / 2.0
    corner = p[..., list(fm.MOUTH_CORNERS), 1].mean(axis=-1) - midline
    eyes = (p[..., list(fm.LEFT_EYE), 1].mean(axis=-1) + p[..., list(fm.RIGHT_EYE), 1].mean(axis=-1)) / 2.0
    brows = p[..., list(fm.LEFT_BROW_UPPER + fm.RIGHT_BROW_UPPER), 1].mean(axis=-1)
    return np.stack([gap, width, corner, eyes - brows], axis=-1)


@dataclass
class ClipMotion:
    """One clip's motion at its own frame rate, before the PCA: what :func:`canonical_motion` measures."""

    fps: float
    pose: np.ndarray  # (T, 6) yaw, pitch, roll, tx, ty, log_scale relative to the clip's median
    deltas: np.ndarray  # (T, 468, 3) canonical shape minus the clip's median (interocular units)
    eyes: np.ndarray  # (T, 4) blink_left, blink_right, gaze_x, gaze_y
    measured: np.ndarray  # (T, 4) MEASUREMENTS of the canonical shape
    controls: np.ndarray  # (T, 4) EXPRESSION_CONTROLS these measurements mean for the renderer
    tracked: np.ndarray  # (T,) bool: the face was found in this frame (others are interpolated)


def _interpolate_missing(values: np.ndarray, tracked: np.ndarray) -> np.ndarray:
    if tracked.all():
        return values
    idx = np.flatnonzero(tracked)
    t = np.arange(len(values))
    flat = values.reshape(len(values), -1)
    out = np.stack([np.interp(t, idx, flat[idx, j]) for j in range(flat.shape[1])], axis=1)
    return out.reshape(values.shape)


def _smooth_time(values: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Gaussian low-pass along axis 0 (edges held); ``sigma_frames`` under 0.3 leaves the values alone."""
    if sigma_frames < 0.3 or len(values) < 2:
        return values
    radius = max(1, int(3 * sigma_frames))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_frames) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(values, [(radius, radius)] + [(0, 0)] * (values.ndim - 1), mode="edge")
    out = np.zeros_like(values, dtype=np.float64)
    for i, w in enumerate(kernel):
        out += w * padded[i:i + len(values)]
    return out


def canonical_motion(points: np.ndarray, *, fps: float, response: np.ndarray | None = None,
                     smooth_s: float = SMOOTH_S) -> ClipMotion:
    """Head pose, canonical shape motion, blinks and gaze of one clip's tracked landmarks.

    ``points`` (T, 478, 3) in image pixels, NaN rows where the face was not found (interpolated).
    ``response`` is the renderer's measurement response (:func:`renderer_response`); without it the
    controls are left zero. Head pose, shape and gaze are low-passed with a Gaussian of ``smooth_s``
    seconds (the tracker's frame-to-frame noise; blinks are left sharp).
    """
    pts = np.asarray(points, np.float64)
    if pts.ndim != 3 or pts.shape[1:] != (478, 3):
        raise GeneratorError(f"landmark tracks must have shape (T, 478, 3), not {pts.shape}")
    tracked = np.isfinite(pts).all(axis=(1, 2))
    if tracked.sum() < MIN_FRAMES:
        raise GeneratorError(f"the face is tracked in {int(tracked.sum())} frames; at least {MIN_FRAMES} are needed")
    pts = _interpolate_missing(pts, tracked)
    n = len(pts)
    rigid = list(RIGID)
    # Similarity-align every frame to a reference shape on the rigid points; refine the reference twice.
    reference = np.median(pts, axis=0)
    for _ in range(3):
        fits = [_umeyama(p[rigid], reference[rigid]) for p in pts]
        aligned = np.stack([s * p @ r.T + t for p, (s, r, t) in zip(pts, fits, strict=True)])
        reference = np.median(aligned, axis=0)
    axes = _frontal_axes(reference)
    centre = reference[rigid].mean(axis=0)
    unit = _eye_centre_distance(reference)
    canonical = (aligned - centre) @ axes.T / unit
    sigma = smooth_s * float(fps)
    canonical = _smooth_time(canonical, sigma)
    deltas = canonical - np.median(canonical, axis=0)

    # Head pose: angles from the mesh, scale and translation from the similarity fits, all relative to the median.
    angles = np.array([head_pose(p) for p in pts])
    angles -= np.median(angles, axis=0)
    face_scale = np.log(1.0 / np.array([s for s, _, _ in fits]))
    face_scale -= np.median(face_scale)
    image_iod = np.median([_eye_centre_distance(p) for p in pts])
    centres = pts[:, rigid, :2].mean(axis=1)
    shift = (centres - np.median(centres, axis=0)) * (FRAME_UNIT / image_iod)
    roll0 = math.radians(float(np.median([head_pose(p)[2] for p in pts[:: max(1, n // 50)]])))
    c, s_ = math.cos(-roll0), math.sin(-roll0)
    shift = shift @ np.array([[c, s_], [-s_, c]])  # image axes → the level-eyed frame of the rig
    offset = _pivot_offset(np.median(canonical, axis=0)) * FRAME_UNIT
    induced = np.stack([
        math.exp(ls) * (_rotation(*a) @ offset)[:2] - offset[:2] for a, ls in zip(angles, face_scale, strict=True)
    ])
    translation = shift - induced
    pose = _smooth_time(np.column_stack([angles, translation - np.median(translation, axis=0), face_scale]), sigma)

    # Eyes: aspect ratio normalised per clip; iris offsets in the renderer's units of travel.
    openness = np.array([fm.eye_openness(p) for p in pts])  # (left, right)
    # Open: up to 20 % under the clip's median (gaze and expression move the lids that much);
    # closed: a quarter of it (MediaPipe's lids seldom meet).
    open_level = 0.8 * np.median(openness, axis=0)
    closed_level = 0.3125 * open_level
    blinks = np.clip((open_level - openness) / (open_level - closed_level), 0.0, 1.0)
    gaze = _gaze(canonical)  # from the smoothed shape
    gaze -= np.median(gaze, axis=0)
    eyes = np.column_stack([blinks, np.clip(gaze, -1.0, 1.0)])

    measured = measurements(canonical)
    # MediaPipe's depth is only roughly right, so a nod leaks into the vertical distances of the
    # frontalised mesh: remove from the corner and brow heights their part linear in pitch.
    pitch = angles[:, 1] - angles[:, 1].mean()
    if pitch.std() > 1e-6:
        for j in (2, 3):
            slope = float(np.dot(pitch, measured[:, j] - measured[:, j].mean()) / np.dot(pitch, pitch))
            measured[:, j] -= slope * pitch
    controls = np.zeros((n, len(EXPRESSION_CONTROLS)))
    if response is not None:
        controls = controls_from_measurements(measured, response)
    return ClipMotion(fps=float(fps), pose=pose, deltas=deltas, eyes=eyes, measured=measured, controls=controls,
                      tracked=tracked)


def _pivot_offset(canonical: np.ndarray) -> np.ndarray:
    """The rigid points' centre relative to the renderer's neck pivot (generator.rig), in interoculars."""
    mouth_y = (canonical[13, 1] + canonical[14, 1]) / 2.0
    pivot = np.array([
        (canonical[234, 0] + canonical[454, 0]) / 2.0,
        (mouth_y + canonical[fm.CHIN, 1]) / 2.0,
        (canonical[234, 2] + canonical[454, 2]) / 2.0 + 0.1,
    ])
    return canonical[list(RIGID)].mean(axis=0) - pivot


def _gaze(canonical: np.ndarray) -> np.ndarray:
    """(T, 2) iris offsets from the eye's centre, in units of the renderer's gaze travel (generator._eyes)."""
    out = np.zeros((len(canonical), 2))
    for upper, lower, iris in ((fm.LEFT_UPPER_LID, fm.LEFT_LOWER_LID, fm.LEFT_IRIS),
                               (fm.RIGHT_UPPER_LID, fm.RIGHT_LOWER_LID, fm.RIGHT_IRIS)):
        corners = canonical[:, [upper[0], upper[-1]], :2]
        mid = corners.mean(axis=1)
        half_width = np.abs(corners[:, 1, 0] - corners[:, 0, 0]) / 2.0
        centre = canonical[:, iris[0], :2]
        radius = np.clip(np.linalg.norm(canonical[:, iris[1:], :2] - centre[:, None], axis=-1).mean(axis=1),
                         0.05, 0.2)
        lid_mid = (canonical[:, list(upper[2:7]), 1].mean(axis=1) + canonical[:, list(lower[2:7]), 1].mean(axis=1)) / 2
        out[:, 0] += (centre[:, 0] - mid[:, 0]) / np.maximum(0.65 * (half_width - radius), 0.02)
        out[:, 1] += (centre[:, 1] - lid_mid) / np.maximum(0.2 * radius, 0.01)
    return out / 2.0


# --- measurements ↔ the renderer's controls -----------------------------------------------------

# Signed controls → the renderer's one-sided bases (positive part, negative part).
_SIGNED = {"jaw_open": ("jaw_open", None), "lip_width": ("spread", "round"), "smile": ("smile_up", "smile_down"),
           "brow_raise": ("brow_up", "brow_down")}


def renderer_response(portrait_rgb: np.ndarray, landmarks: FaceLandmarks) -> np.ndarray:
    """(2, 4, 4) how the renderer's controls move the :data:`MEASUREMENTS` (interocular units per unit control).

    ``[0]`` for each control at +1, ``[1]`` at −1 (sign included), columns in
    :data:`EXPRESSION_CONTROLS` order, rows in :data:`MEASUREMENTS` order; measured on
    :func:`generator.render.frame_landmarks` of a rig built from this portrait.
    """
    rig = build_rig(portrait_rgb, landmarks)
    base = measurements(frame_landmarks(rig, FramePose()) / rig.unit)
    out = np.zeros((2, len(MEASUREMENTS), len(EXPRESSION_CONTROLS)))
    for j, name in enumerate(EXPRESSION_CONTROLS):
        for k, sign in enumerate((1.0, -1.0)):
            value = sign if name != "jaw_open" else 1.0
            moved = measurements(frame_landmarks(rig, FramePose(**{name: value})) / rig.unit)
            out[k, :, j] = (moved - base) / value
    return out


def controls_from_measurements(measured: np.ndarray, response: np.ndarray) -> np.ndarray:
    """(T, 4) renderer controls that best reproduce each frame's measurements relative to the clip's rest.

    Rest: the mouth gap of the clip's most closed frames (5th percentile) and, over its
    closed-mouth frames, the median width, corner and brow heights. Each frame is solved by least
    squares with the +1 responses, then again with each control's side chosen by that first
    answer's sign (the renderer's bases differ per side); jaw_open is clipped to 0–1, the rest to ±1.
    """
    m = np.asarray(measured, np.float64)
    gap = m[:, 0]
    closed = gap <= np.percentile(gap, 20)
    rest = np.median(m[closed], axis=0)
    rest[0] = np.percentile(gap, 5)
    target = (m - rest).T  # (4, T)
    first = np.linalg.lstsq(response[0], target, rcond=None)[0]
    out = np.zeros_like(first)
    for t in range(first.shape[1]):
        side = np.where(first[:, t] >= 0, 0, 1)
        side[0] = 0
        matrix = response[side, :, np.arange(len(EXPRESSION_CONTROLS))].T
        out[:, t] = np.linalg.lstsq(matrix, target[:, t], rcond=None)[0]
    out = out.T
    out[:, 0] = np.clip(out[:, 0], 0.0, 1.0)
    out[:, 1:] = np.clip(out[:, 1:], -1.0, 1.0)
    return out


# --- the basis: PCA of expression motion and its map to the renderer ------------------------------


@dataclass(frozen=True)
class MotionBasis:
    """The expression PCA and the linear map from its coefficients to the renderer's expression controls.

    ``mean`` (P·3,), ``components`` (K, P·3) orthonormal rows and ``scales`` (K,) their standard
    deviations (coefficient = (delta − mean) · componentᵀ / scale) over :data:`EXPRESSION_POINTS`;
    ``pose_map`` (K + 1, 4): [coefficients, 1] → :data:`EXPRESSION_CONTROLS`, fitted by least squares
    on the training frames; ``pose_map_r2`` (4,) how much of each control's variance within a clip it
    explains.
    """

    mean: np.ndarray
    components: np.ndarray
    scales: np.ndarray
    pose_map: np.ndarray
    pose_map_r2: np.ndarray
    fps: float = FPS

    @property
    def n_expr(self) -> int:
        return int(self.components.shape[0])

    @property
    def latent_names(self) -> list[str]:
        return latent_names(self.n_expr)

    def encode(self, deltas: np.ndarray) -> np.ndarray:
        """(T, K) whitened coefficients of canonical shape deltas (T, 468, 3)."""
        flat = np.asarray(deltas, np.float64)[:, list(EXPRESSION_POINTS)].reshape(len(deltas), -1)
        return (flat - self.mean) @ self.components.T / self.scales

    def decode(self, coefficients: np.ndarray) -> np.ndarray:
        """(T, 468, 3) canonical shape deltas of whitened coefficients (eye points left at zero)."""
        c = np.asarray(coefficients, np.float64)
        flat = (c * self.scales) @ self.components + self.mean
        out = np.zeros((len(c), 468, 3))
        out[:, list(EXPRESSION_POINTS)] = flat.reshape(len(c), -1, 3)
        return out

    def save(self, path: Path | str) -> None:
        np.savez(path, mean=self.mean.astype(np.float32), components=self.components.astype(np.float32),
                 scales=self.scales.astype(np.float32), pose_map=self.pose_map.astype(np.float32),
                 pose_map_r2=self.pose_map_r2.astype(np.float32), fps=np.float32(self.fps),
                 points=np.asarray(EXPRESSION_POINTS, np.int32), controls=np.asarray(EXPRESSION_CONTROLS))

    @classmethod
    def load(cls, path: Path | str) -> MotionBasis:
        """The basis in ``path`` (a ``pca.npz``, or a dataset directory holding one)."""
        path = Path(path)
        if path.is_dir():
            path = path / "pca.npz"
        try:
            with np.load(path, allow_pickle=False) as data:
                basis = cls(mean=data["mean"].astype(np.float64), components=data["components"].astype(np.float64),
                            scales=data["scales"].astype(np.float64), pose_map=data["pose_map"].astype(np.float64),
                            pose_map_r2=data["pose_map_r2"].astype(np.float64), fps=float(data["fps"]))
        except (OSError, KeyError, ValueError) as exc:
            raise GeneratorError(f"{path} is not a motion basis (pca.npz): {exc}") from None
        if basis.components.shape != (basis.n_expr, 3 * len(EXPRESSION_POINTS)) or basis.pose_map.shape != (
                basis.n_expr + 1, len(EXPRESSION_CONTROLS)):
            raise GeneratorError(f"{path}: the motion basis has inconsistent shapes")
        return basis


def fit_basis(deltas: Sequence[np.ndarray], controls: Sequence[np.ndarray], *, n_expr: int = N_EXPR) -> MotionBasis:
    """PCA of the training clips' canonical deltas, and the least-squares map coefficients → controls."""
    flat = np.concatenate([np.asarray(d)[:, list(EXPRESSION_POINTS)].reshape(len(d), -1) for d in deltas])
    if len(flat) <= n_expr:
        raise GeneratorError(f"{len(flat)} frames cannot fit {n_expr} expression components")
    mean = flat.mean(axis=0)
    _, sing, vt = np.linalg.svd(flat - mean, full_matrices=False)
    components = vt[:n_expr]
    scales = np.maximum(sing[:n_expr] / math.sqrt(len(flat) - 1), 1e-9)
    coeffs = (flat - mean) @ components.T / scales
    target = np.concatenate([np.asarray(c, np.float64) for c in controls])
    # Slopes from each clip's motion about its own mean (a clip's rest offset is not in its
    # coefficients, which are relative to its median shape); the intercept from all frames.
    bounds = np.cumsum([0] + [len(d) for d in deltas])
    centred_c, centred_t = coeffs.copy(), target.copy()
    for a, b in itertools.pairwise(bounds):
        centred_c[a:b] -= coeffs[a:b].mean(axis=0)
        centred_t[a:b] -= target[a:b].mean(axis=0)
    slopes = np.linalg.lstsq(centred_c, centred_t, rcond=None)[0]
    intercept = target.mean(axis=0) - coeffs.mean(axis=0) @ slopes
    pose_map = np.vstack([slopes, intercept])
    residual = centred_t - centred_c @ slopes
    variance = centred_t.var(axis=0)
    r2 = np.where(variance > 1e-12, 1.0 - residual.var(axis=0) / np.maximum(variance, 1e-12), 0.0)
    return MotionBasis(mean=mean, components=components, scales=scales, pose_map=pose_map, pose_map_r2=r2)


def explained_variance(deltas: Sequence[np.ndarray], basis: MotionBasis) -> float:
    """Share of the deltas' variance (about the basis mean) that the basis's components reconstruct."""
    flat = np.concatenate([np.asarray(d)[:, list(EXPRESSION_POINTS)].reshape(len(d), -1) for d in deltas])
    centred = flat - basis.mean
    projected = centred @ basis.components.T
    return float((projected**2).sum() / max((centred**2).sum(), 1e-12))


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
    frame, lm = candidates[len(candidates) // 2] if candidates else (None, None)
    return np.stack(rows), float(info.fps), frame, lm


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
        z = _smooth_time(z, smooth_s * float(fps))
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
    out_dir: Path | str,
    *,
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
    basis = fit_basis([motions[n].deltas for n in train], [motions[n].controls for n in train], n_expr=n_expr)
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
            has_audio = note == "speech"
            if not has_audio:  # the features of silence, as long as the clip
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
