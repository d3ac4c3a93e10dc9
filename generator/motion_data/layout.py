"""The layout of the learned generator's motion latent and audio condition: dimensions, names, constants.

>>> from generator.motion_data.layout import AUDIO_DIM, latent_names
>>> AUDIO_DIM, len(latent_names(12))
(43, 22)

See :mod:`generator.motion_data` for what each dimension means.
"""

from __future__ import annotations

from faces import mesh as fm

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
