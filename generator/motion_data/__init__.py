"""The motion latent space of the learned generator, and the dataset of motion sequences aligned with audio.

The layout of the latent (:mod:`~generator.motion_data.layout`), the inference-time audio features
(:mod:`~generator.motion_data.audio`), the geometry from landmarks to canonical motion
(:mod:`~generator.motion_data.geometry`), the expression basis (:mod:`~generator.motion_data.basis`)
and the dataset I/O (:mod:`~generator.motion_data.dataset`).

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

from generator.motion_data.audio import AudioEncoder, audio_features, load_audio_encoder
from generator.motion_data.basis import MotionBasis, explained_variance, fit_basis
from generator.motion_data.dataset import (
    clip_audio,
    clip_latent,
    latent_from_motion,
    poses_from_latent,
    prepare_dataset,
    track_clip,
)
from generator.motion_data.geometry import (
    ClipMotion,
    canonical_motion,
    controls_from_measurements,
    measurements,
    renderer_response,
    smooth_time,
)
from generator.motion_data.layout import (
    AUDIO_DIM,
    AUDIO_FEATURE_NAMES,
    EXPRESSION_CONTROLS,
    EYE_NAMES,
    FPS,
    MEASUREMENTS,
    N_EXPR,
    N_MELS,
    POSE_NAMES,
    SMOOTH_S,
    latent_names,
)

__all__ = [
    "AUDIO_DIM",
    "AUDIO_FEATURE_NAMES",
    "EXPRESSION_CONTROLS",
    "EYE_NAMES",
    "FPS",
    "MEASUREMENTS",
    "N_EXPR",
    "N_MELS",
    "POSE_NAMES",
    "SMOOTH_S",
    "AudioEncoder",
    "ClipMotion",
    "MotionBasis",
    "audio_features",
    "canonical_motion",
    "clip_audio",
    "clip_latent",
    "controls_from_measurements",
    "explained_variance",
    "fit_basis",
    "latent_from_motion",
    "latent_names",
    "load_audio_encoder",
    "measurements",
    "poses_from_latent",
    "prepare_dataset",
    "renderer_response",
    "smooth_time",
    "track_clip",
]
