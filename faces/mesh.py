"""Named groups of the 478-point MediaPipe face mesh, and measurements on a face's landmarks.

>>> from faces import mesh
>>> mesh.MOUTH_CORNERS, mesh.NOSE_TIP, mesh.CHIN, mesh.FOREHEAD
((61, 291), 1, 152, 10)
>>> mesh.LEFT_UPPER_LID[0], mesh.LEFT_UPPER_LID[-1]          # inner corner, outer corner
(362, 263)
>>> mesh.RIGHT_IRIS, mesh.LEFT_IRIS                           # centre first
((468, 469, 470, 471, 472), (473, 474, 475, 476, 477))

Conventions (those of MediaPipe): "left" and "right" are the **subject's** own, so on a frontal
portrait ``LEFT_EYE`` is on the image's right. Lids, brows and lips are ordered from the inner
eye corner (the nose) outwards, and lips from the subject's right mouth corner (61, on the
image's left) to the left one (291). Closed contours (``*_EYE``, ``LIPS_*``, ``FACE_OVAL``) list
each point once; ``FACE_OVAL`` starts at the top of the forehead (10) and runs down the
subject's left side (the image's right) to the chin (152) and back up. Every group is checked
against MediaPipe's published ``FACEMESH_*`` connection sets in the tests.

Measurements take a :class:`~faces.landmarks.FaceLandmarks` or a (478, 2|3) array of points:

- :func:`mouth_opening` — mean gap between the inner lips at and beside the centre (13/14,
  82/87, 312/317), measured along the face's vertical, over face height (forehead 10 to chin
  152): about 0 closed, 0.05–0.1 while talking, up to about 0.2 wide open.
- :func:`eye_openness` — (left, right) eye aspect ratio: mean lid gap over eye width; about
  0.2–0.4 open, under 0.1 closed.
- :func:`head_pose` — (yaw, pitch, roll) in degrees: yaw positive when the face turns towards
  the viewer's right, pitch positive nodding down, roll positive when the head tilts clockwise
  in the image; all 0 for a face looking straight into the camera. Needs z.
- :func:`interocular` — distance between the eye centres in pixels.
"""

from __future__ import annotations

import numpy as np

from faces.errors import FaceError
from faces.landmarks import N_POINTS, FaceLandmarks

# --- Landmarks of one point ---
NOSE_TIP = 1
CHIN = 152
FOREHEAD = 10  # the top of the forehead on the face oval
SUBNASALE = 2  # where the nose meets the upper lip
MOUTH_CORNERS = (61, 291)  # (subject's right, subject's left)

# --- Eyes: lids from the inner corner (nose side) to the outer corner ---
RIGHT_UPPER_LID = (133, 173, 157, 158, 159, 160, 161, 246, 33)
RIGHT_LOWER_LID = (133, 155, 154, 153, 145, 144, 163, 7, 33)
LEFT_UPPER_LID = (362, 398, 384, 385, 386, 387, 388, 466, 263)
LEFT_LOWER_LID = (362, 382, 381, 380, 374, 373, 390, 249, 263)
RIGHT_EYE_CORNERS = (133, 33)  # (inner, outer)
LEFT_EYE_CORNERS = (362, 263)
# Closed contours: the upper lid inner → outer, then the lower lid back (corners once).
RIGHT_EYE = RIGHT_UPPER_LID + RIGHT_LOWER_LID[-2:0:-1]
LEFT_EYE = LEFT_UPPER_LID + LEFT_LOWER_LID[-2:0:-1]
# Irises (refined landmarks): centre, then four points around it.
RIGHT_IRIS = (468, 469, 470, 471, 472)
LEFT_IRIS = (473, 474, 475, 476, 477)

# --- Brows: upper and lower edge, inner → outer; the closed outline is upper then lower back ---
RIGHT_BROW_UPPER = (107, 66, 105, 63, 70)
RIGHT_BROW_LOWER = (55, 65, 52, 53, 46)
LEFT_BROW_UPPER = (336, 296, 334, 293, 300)
LEFT_BROW_LOWER = (285, 295, 282, 283, 276)
RIGHT_BROW = RIGHT_BROW_UPPER + RIGHT_BROW_LOWER[::-1]
LEFT_BROW = LEFT_BROW_UPPER + LEFT_BROW_LOWER[::-1]

# --- Lips: from the subject's right corner to the left one ---
UPPER_LIP_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LOWER_LIP_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
UPPER_LIP_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_LIP_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LIPS_OUTER = UPPER_LIP_OUTER + LOWER_LIP_OUTER[-2:0:-1]
LIPS_INNER = UPPER_LIP_INNER + LOWER_LIP_INNER[-2:0:-1]

# --- The face's outline: from the forehead down the subject's left side to the chin and back up ---
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)

# Mirror pairs (subject's left, subject's right) on rigid parts of the face: the oval above the
# jaw line, the lids and the brows. Their differences all point along the face's left-right axis.
_OVAL_ABOVE_JAW = 9  # FACE_OVAL[1:9] and their mirrors: forehead, temples and cheeks down to 454/234
SYMMETRIC_PAIRS = tuple(
    [(FACE_OVAL[i], FACE_OVAL[len(FACE_OVAL) - i]) for i in range(1, _OVAL_ABOVE_JAW)]
    + list(zip(LEFT_UPPER_LID, RIGHT_UPPER_LID, strict=True))
    + list(zip(LEFT_LOWER_LID, RIGHT_LOWER_LID, strict=True))
    + list(zip(LEFT_BROW_UPPER, RIGHT_BROW_UPPER, strict=True))
    + list(zip(LEFT_BROW_LOWER, RIGHT_BROW_LOWER, strict=True))
)

# Inner-lip pairs (upper, lower) at and beside the centre, for mouth_opening.
_INNER_LIP_PAIRS = ((82, 87), (13, 14), (312, 317))
# Lid pairs (upper, lower) away from the corners, for eye_openness.
_LID_MIDDLE = slice(2, 7)


def _points(lm: FaceLandmarks | np.ndarray, *, need_z: bool = False) -> np.ndarray:
    points = lm.points if isinstance(lm, FaceLandmarks) else np.asarray(lm)
    columns = (3,) if need_z else (2, 3)
    if points.ndim != 2 or points.shape[0] != N_POINTS or points.shape[1] not in columns:
        wanted = f"({N_POINTS}, 3)" if need_z else f"({N_POINTS}, 2) or ({N_POINTS}, 3)"
        raise FaceError(f"face landmarks must be FaceLandmarks or an array of shape {wanted}, not {points.shape}")
    return points.astype(np.float64)


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    if norm < 1e-9:
        raise FaceError("the face landmarks are degenerate (points coincide)")
    return v / norm


def eye_centres(lm: FaceLandmarks | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) eye centres in image coordinates: the mean of each eye's lid contour (not the iris)."""
    xy = _points(lm)[:, :2]
    return xy[list(LEFT_EYE)].mean(axis=0), xy[list(RIGHT_EYE)].mean(axis=0)


def interocular(lm: FaceLandmarks | np.ndarray) -> float:
    """Distance between the two eye centres (:func:`eye_centres`) in pixels."""
    left, right = eye_centres(lm)
    return float(np.linalg.norm(left - right))


def face_height(lm: FaceLandmarks | np.ndarray) -> float:
    """Image distance from the top of the forehead (10) to the chin (152), in pixels."""
    xy = _points(lm)[:, :2]
    return float(np.linalg.norm(xy[FOREHEAD] - xy[CHIN]))


def mouth_opening(lm: FaceLandmarks | np.ndarray) -> float:
    """Mean inner-lip gap along the face's vertical, over :func:`face_height` (0 when closed)."""
    xy = _points(lm)[:, :2]
    left, right = eye_centres(xy)
    across = _unit(left - right)  # towards the image's right on an upright frontal face
    down = np.array([-across[1], across[0]])  # perpendicular to the eye line, towards the chin
    upper = xy[[u for u, _ in _INNER_LIP_PAIRS]]
    lower = xy[[v for _, v in _INNER_LIP_PAIRS]]
    gap = float(np.mean((lower - upper) @ down))
    height = face_height(xy)
    if height < 1e-9:
        raise FaceError("the face landmarks are degenerate (forehead and chin coincide)")
    return max(0.0, gap / height)


def eye_openness(lm: FaceLandmarks | np.ndarray) -> tuple[float, float]:
    """(left, right) eye aspect ratio: mean gap between the lids away from the corners over eye width."""
    xy = _points(lm)[:, :2]

    def ratio(upper: tuple[int, ...], lower: tuple[int, ...], corners: tuple[int, int]) -> float:
        gaps = np.linalg.norm(xy[list(upper[_LID_MIDDLE])] - xy[list(lower[_LID_MIDDLE])], axis=1)
        width = float(np.linalg.norm(xy[corners[0]] - xy[corners[1]]))
        if width < 1e-9:
            raise FaceError("the face landmarks are degenerate (eye corners coincide)")
        return float(gaps.mean() / width)

    return (ratio(LEFT_UPPER_LID, LEFT_LOWER_LID, LEFT_EYE_CORNERS),
            ratio(RIGHT_UPPER_LID, RIGHT_LOWER_LID, RIGHT_EYE_CORNERS))


def head_pose(lm: FaceLandmarks | np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) of the head in degrees, from the landmarks' 3D geometry.

    The face's left-right axis is the mean difference of mirror-symmetric landmarks
    (:data:`SYMMETRIC_PAIRS`); its vertical axis runs from the subnasale (2) to the top of the
    forehead (10), made perpendicular to the first. Both avoid the jaw, so talking does not move
    them. ``yaw`` is how far the left-right axis leaves the image plane (positive: the subject's
    left side moves away, the face turns towards the viewer's right); ``pitch`` is how far the
    vertical axis leaves it (positive: the forehead comes nearer, nodding down); ``roll`` is the
    angle of the eye line in the image (positive: clockwise as seen, the subject's left eye lower).
    Yaw and pitch do not change when the image is rotated; mirroring the image negates yaw and
    roll. Pitch 0 means the top of the forehead is straight above the subnasale in depth; on
    frontal portraits MediaPipe's meshes read within about ±10° of it.
    """
    points = _points(lm, need_z=True)
    left = points[[a for a, _ in SYMMETRIC_PAIRS]]
    right = points[[b for _, b in SYMMETRIC_PAIRS]]
    across = _unit((left - right).sum(axis=0))
    up = points[FOREHEAD] - points[SUBNASALE]
    up = _unit(up - (up @ across) * across)
    yaw = np.degrees(np.arctan2(across[2], np.hypot(across[0], across[1])))
    pitch = np.degrees(np.arctan2(-up[2], np.hypot(up[0], up[1])))
    left_eye, right_eye = eye_centres(points)
    dx, dy = left_eye - right_eye
    roll = np.degrees(np.arctan2(dy, dx))
    return float(yaw), float(pitch), float(roll)
