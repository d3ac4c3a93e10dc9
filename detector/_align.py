"""Face and mouth crops aligned by landmarks: what the companion classifier sees of a frame.

>>> import matplotlib.cbook
>>> from detector._align import CropGeometry, centre, crop_pair, face_scale
>>> from faces import find_face
>>> from media import read_image
>>> portrait = read_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
>>> points = find_face(portrait).points
>>> geometry = CropGeometry()
>>> face, mouth = crop_pair(portrait, points=points, geometry=geometry)
>>> face.shape, mouth.shape                                   # stored with a jitter margin
((144, 144, 3), (108, 108, 3))
>>> centre(face, size=geometry.face_size).shape               # what the model sees
(128, 128, 3)
>>> 70 < face_scale(points) < 100                              # pixels between the eye centres
True

Three anchors are read from MediaPipe's 478 landmarks: the two eye centres (the mean of each
lid contour, not the iris, so gaze does not move the crop) and the midpoint of the mouth
corners. A similarity transform (rotation, uniform scale, shift) maps them, in the least-squares
sense, onto a canonical template in *interocular units* (eye centres at x = ±0.5, y = 0; mouth
at y = ``mouth_y``). The face crop is a square of ``face_side`` units around ``face_centre``, the
mouth crop a square of ``mouth_side`` units around the mouth, each stored ``margin`` larger
so that training can jitter the crop (:func:`centre`). Downscaling by more than 1.4× renders
at twice the size first and halves with area averaging (no aliasing from ``warpAffine``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from faces import MOUTH_CORNERS, eye_centres, similarity_fit


@dataclass(frozen=True)
class CropGeometry:
    """Where the crops lie in interocular units (x right, y down from the eyes' midpoint)."""

    face_size: int = 128
    face_side: float = 2.4
    face_centre_y: float = 0.55
    mouth_size: int = 96
    mouth_side: float = 1.4
    mouth_y: float = 1.15
    margin: float = 1.125  # stored crops are this much larger than the model's input

    @property
    def face_stored(self) -> int:
        return round(self.face_size * self.margin)

    @property
    def mouth_stored(self) -> int:
        return round(self.mouth_size * self.margin)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CropGeometry:
        """From a model card's JSON (unknown keys are left out)."""
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def anchors(points: np.ndarray) -> np.ndarray:
    """(3, 2) image points: the subject's right eye (image left), left eye, mouth-corner midpoint."""
    xy = np.asarray(points, dtype=np.float64)[:, :2]
    left, right = eye_centres(xy)
    mouth = xy[list(MOUTH_CORNERS)].mean(axis=0)
    return np.stack([right, left, mouth])


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2×3 similarity (Umeyama, no reflection) mapping ``src`` points onto ``dst``."""
    scale, rotation, shift = similarity_fit(src, target=dst)
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = shift
    return matrix


def _crop(frame: np.ndarray, image_pts: np.ndarray, template: np.ndarray, *, size: int) -> np.ndarray:
    """Warp ``frame`` so that ``image_pts`` land on ``template`` (pixels of a ``size``² crop)."""
    matrix = _similarity(image_pts, template)
    scale = float(np.hypot(*matrix[:, 0]))
    if scale < 1 / 1.4:  # render at twice the size, then average down
        big = _crop(frame, image_pts, template * 2.0, size=2 * size) if scale * 2 < 1 / 1.4 else cv2.warpAffine(
            frame, matrix * 2.0, (2 * size, 2 * size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
        )
        return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)
    return cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def _template(*, centre_y: float, side: float, size: int, mouth_y: float) -> np.ndarray:
    """The anchors' pixel positions in a ``size``² crop of ``side`` units centred at (0, centre_y)."""
    unit = np.array([[-0.5, 0.0], [0.5, 0.0], [0.0, mouth_y]])
    return (unit - np.array([0.0, centre_y]) + side / 2) * (size / side)


def crop_pair(frame: np.ndarray, *, points: np.ndarray, geometry: CropGeometry) -> tuple[np.ndarray, np.ndarray]:
    """(face, mouth) crops of ``frame`` (RGB uint8) at their stored sizes (with the jitter margin)."""
    image_pts = anchors(points)
    g = geometry
    face = _crop(frame, image_pts, _template(centre_y=g.face_centre_y, side=g.face_side * g.margin,
                                             size=g.face_stored, mouth_y=g.mouth_y), size=g.face_stored)
    mouth = _crop(frame, image_pts, _template(centre_y=g.mouth_y, side=g.mouth_side * g.margin,
                                              size=g.mouth_stored, mouth_y=g.mouth_y), size=g.mouth_stored)
    return face, mouth


def centre(crops: np.ndarray, *, size: int) -> np.ndarray:
    """The central ``size``² of stored crops (..., S, S, C): what the model sees at detection time."""
    stored = crops.shape[-2]
    off = (stored - size) // 2
    return crops[..., off:off + size, off:off + size, :]


def face_scale(points: np.ndarray) -> float:
    """The face's interocular distance in pixels (the scale the crops are made from)."""
    image_pts = anchors(points)
    return float(np.linalg.norm(image_pts[1] - image_pts[0]))
