"""Render one frame: warp the rigged portrait to a :class:`FramePose`, then paint the mouth and closed eyes.

>>> import cv2, matplotlib.cbook
>>> from faces import find_face
>>> from generator.pose import FramePose
>>> from generator.render import render_frame
>>> from generator.rig import build_rig
>>> photo = cv2.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))[..., ::-1].copy()
>>> rig = build_rig(photo, find_face(photo))
>>> frame = render_frame(rig, FramePose(jaw_open=0.6, teeth=0.5, yaw=8.0, blink_left=1.0))
>>> frame.shape, frame.dtype.name
((512, 512, 3), 'uint8')

Per frame: (1) the pose sets where every rig vertex goes — the facial controls as weighted sums
of the rig's displacement bases, lip press and tuck as adjustments of the inner-lip pairs, then the
head's rigid motion: the 3D points rotated about a pivot near the neck (yaw, then pitch, then
roll), weak-perspective projected, scaled and translated, with the hair and neck anchors following
only partly and the frame border not at all; (2) a backward warp of the aligned image with the
dense field of those displacements (plus the iris fields for gaze), computed on a half-resolution
grid, inverted by fixed-point iteration, upsampled, applied with one ``cv2.remap``; (3) the mouth
interior inside the warped inner lips, as far as the mouth opened beyond the portrait's own; (4)
lid skin and a lash line over nearly closed eyes. Same inputs, same pixels.
"""

from __future__ import annotations

import numpy as np

from generator import _eyes, _mouth
from generator import _topology as topo
from generator.pose import FramePose
from generator.rig import PortraitRig

TUCK_GAP = 0.045  # teeth showing above a tucked lower lip, in face units


def rotation(yaw: float, *, pitch: float, roll: float) -> np.ndarray:
    """yaw turns the face to the viewer's right, pitch nods it down, roll tilts it clockwise (image axes)."""
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0.0, -np.sin(y)], [0.0, 1.0, 0.0], [np.sin(y), 0.0, np.cos(y)]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(p), -np.sin(p)], [0.0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0.0], [np.sin(r), np.cos(r), 0.0], [0.0, 0.0, 1.0]])
    return rz @ rx @ ry


def _controls(pose: FramePose) -> dict[str, float]:
    """The weight of each displacement basis (and iris field) for ``pose``; zero weights left out."""
    jaw = float(np.clip(pose.jaw_open, 0.0, 1.0))
    width = float(np.clip(pose.lip_width, -1.0, 1.0))
    smile = float(np.clip(pose.smile, -1.0, 1.0))
    brow = float(np.clip(pose.brow_raise, -1.0, 1.0))
    weights = {
        "jaw": jaw,
        "spread": max(width, 0.0),
        "round": max(-width, 0.0),
        "smile_up": max(smile, 0.0),
        "smile_down": max(-smile, 0.0),
        "brow_up": max(brow, 0.0),
        "brow_down": max(-brow, 0.0),
        "blink_right": float(np.clip(pose.blink_right, 0.0, 1.0)),
        "blink_left": float(np.clip(pose.blink_left, 0.0, 1.0)),
        "gaze_x": float(np.clip(pose.gaze_x, -1.0, 1.0)),
        "gaze_y": float(np.clip(pose.gaze_y, -1.0, 1.0)),
    }
    return {name: w for name, w in weights.items() if w != 0.0}


def _lip_adjustment(rig: PortraitRig, pose: FramePose, d: np.ndarray) -> np.ndarray | None:
    """Vertex displacements (N, 2) that press and tuck add to the lips already displaced by ``d``."""
    tuck = float(np.clip(pose.lip_tuck, 0.0, 1.0))
    press = float(np.clip(pose.lip_press, 0.0, 1.0))
    if tuck <= 0.0 and press <= 0.0:
        return None
    adjust = np.zeros_like(d)
    ui, li = topo.LIPS_UPPER_INNER[1:-1], topo.LIPS_LOWER_INNER[1:-1]
    xy = rig.vertices[:, :2] + d
    if tuck > 0.0:  # the lower lip rises to just under the upper teeth, rolling in (its outer edge moves less)
        shift = tuck * (xy[ui, 1] + TUCK_GAP * rig.unit - xy[li, 1])
        for ring, share in zip(topo.LIPS_LOWER_RINGS, (0.6, 0.72, 0.85, 1.0), strict=True):
            adjust[ring[1:-1], 1] += share * shift
        xy = rig.vertices[:, :2] + d + adjust
    if press > 0.0:  # the inner lips meet in the middle; the lips thin a little
        middle = (xy[ui] + xy[li]) / 2.0
        for rings, inner in ((topo.LIPS_UPPER_RINGS, ui), (topo.LIPS_LOWER_RINGS, li)):
            shift = press * (middle - xy[inner])
            for ring, share in zip(rings, (0.85, 0.9, 0.95, 1.0), strict=True):
                adjust[ring[1:-1]] += share * shift
                adjust[ring[1:-1], 1] += 0.1 * press * (xy[inner, 1] - xy[ring[1:-1], 1])
    return adjust


def _head(pose: FramePose, pivot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The head's rigid motion as x' = A @ (x, y, z) + b: A (2, 3), b (2,), in frame pixels."""
    a = float(pose.scale) * rotation(pose.yaw, pitch=pose.pitch, roll=pose.roll)[:2]
    b = pivot[:2] + np.array([pose.tx, pose.ty]) - a @ pivot
    return a, b


def deform(rig: PortraitRig, pose: FramePose) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(non-rigid vertex displacements, the part of them press/tuck added or None, the 478 landmarks (478, 2))."""
    controls = _controls(pose)
    d = np.zeros((len(rig.vertices), 2))
    for name, w in controls.items():
        if name in rig.bases:
            d += w * rig.bases[name]
    adjust = _lip_adjustment(rig, pose, d)
    if adjust is not None:
        d += adjust
    a, b = _head(pose, rig.pivot.astype(np.float64))
    mesh = rig.vertices[:468].astype(np.float64)
    mesh[:, :2] += d[:468]
    iris = rig.points[468:].astype(np.float64)
    iris[:, :2] += rig.gaze_travel * np.array([controls.get("gaze_x", 0.0), controls.get("gaze_y", 0.0)])
    landmarks = np.concatenate([mesh, iris]) @ a.T + b
    return d, adjust, landmarks


def frame_landmarks(rig: PortraitRig, pose: FramePose) -> np.ndarray:
    """The 478 landmarks (478, 2) float32 where :func:`render_frame` puts them for ``pose``."""
    return deform(rig, pose)[2].astype(np.float32)


def _field(rig: PortraitRig, pose: FramePose, adjust: np.ndarray | None) -> np.ndarray | None:
    """The forward displacement field (gh, gw, 2) on the warp grid, or None when nothing moves."""
    controls = _controls(pose)
    rigid = (pose.yaw, pose.pitch, pose.roll, pose.tx, pose.ty, pose.scale) != (0, 0, 0, 0, 0, 1)
    if not controls and adjust is None and not rigid:
        return None
    gh, gw = rig.grid.shape
    nonrigid = np.zeros((gh, gw, 2), np.float32)
    y0, y1, x0, x1 = rig.box
    box = nonrigid[y0:y1, x0:x1]
    for name, w in controls.items():
        box += np.float32(w) * rig.fields[name]
    if adjust is not None:
        rig.lips.add_to(nonrigid, values=adjust)
    if not rigid:
        return nonrigid
    a, b = _head(pose, rig.pivot.astype(np.float64))
    x, y, z, follow = (rig.rest[..., k] for k in range(4))
    field = np.empty_like(nonrigid)
    field[..., 0] = follow * ((a[0, 0] - 1.0) * x + a[0, 1] * y + a[0, 2] * z + b[0])
    field[..., 1] = follow * (a[1, 0] * x + (a[1, 1] - 1.0) * y + a[1, 2] * z + b[1])
    field[..., 0] += a[0, 0] * nonrigid[..., 0] + a[0, 1] * nonrigid[..., 1]
    field[..., 1] += a[1, 0] * nonrigid[..., 0] + a[1, 1] * nonrigid[..., 1]
    return field


def render_frame(rig: PortraitRig, pose: FramePose) -> np.ndarray:
    """The (size, size, 3) uint8 RGB frame of ``rig`` in ``pose``."""
    _, adjust, landmarks = deform(rig, pose)
    field = _field(rig, pose, adjust)
    if field is None:
        return rig.image.copy()
    frame = rig.grid.warp(rig.image, forward=field, boxes=rig.newton_boxes)
    scale = rig.unit * float(pose.scale)

    upper, lower = landmarks[topo.LIPS_UPPER_INNER], landmarks[topo.LIPS_LOWER_INNER]
    gap = float(np.linalg.norm(landmarks[14] - landmarks[13]))
    openness = float(np.clip((gap - rig.mouth_gap * pose.scale - 0.01 * scale) / (0.04 * scale), 0.0, 1.0))
    if openness > 0.0:
        teeth = max(float(pose.teeth), 0.8 * float(pose.lip_tuck))
        _mouth.paint(frame, upper=upper, lower=lower, openness=openness, teeth=teeth, tongue=float(pose.tongue),
                     unit=scale, lip_colour=rig.lip_colour, teeth_rgb=rig.teeth_colour)
    blinks = (float(pose.blink_right), float(pose.blink_left))
    if max(blinks) > 0.55:
        _eyes.paint_closed(frame, target=landmarks, blinks=blinks, colours=rig.lid_colours, unit=scale)
    return frame
