"""Landmarks → canonical motion: head pose relative to the clip, expression deltas on a frontal, unit-scale
face, blinks and gaze (:func:`canonical_motion`); mesh measurements ↔ the renderer's expression controls.

>>> import numpy as np
>>> from generator.motion_data.geometry import smooth_time
>>> smooth_time(np.ones((5, 2), np.float32), 1.0).shape
(5, 2)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from faces import head_pose, similarity_fit
from faces import mesh as fm
from faces.landmarks import FaceLandmarks
from generator.errors import GeneratorError
from generator.motion_data.layout import (
    EXPRESSION_CONTROLS,
    FRAME_UNIT,
    MEASUREMENTS,
    MIN_FRAMES,
    RIGID,
    SMOOTH_S,
)
from generator.pose import FramePose
from generator.render import frame_landmarks, rotation
from generator.rig import build_rig

# --- landmarks → canonical motion ----------------------------------------------------------------


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


def smooth_time(values: np.ndarray, sigma_frames: float) -> np.ndarray:
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
        fits = [similarity_fit(p[rigid], target=reference[rigid]) for p in pts]
        aligned = np.stack([s * p @ r.T + t for p, (s, r, t) in zip(pts, fits, strict=True)])
        reference = np.median(aligned, axis=0)
    axes = _frontal_axes(reference)
    centre = reference[rigid].mean(axis=0)
    unit = _eye_centre_distance(reference)
    canonical = (aligned - centre) @ axes.T / unit
    sigma = smooth_s * float(fps)
    canonical = smooth_time(canonical, sigma)
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
        math.exp(ls) * (rotation(yaw, pitch=pitch, roll=roll) @ offset)[:2] - offset[:2]
        for (yaw, pitch, roll), ls in zip(angles, face_scale, strict=True)
    ])
    translation = shift - induced
    pose = smooth_time(np.column_stack([angles, translation - np.median(translation, axis=0), face_scale]), sigma)

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
        controls = controls_from_measurements(measured, response=response)
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


def controls_from_measurements(measured: np.ndarray, *, response: np.ndarray) -> np.ndarray:
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
