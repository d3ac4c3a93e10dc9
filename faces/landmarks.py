"""What a face backend returns: :class:`FaceLandmarks`, and the :class:`LandmarkBackend` protocol.

>>> import numpy as np
>>> from faces.landmarks import FaceLandmarks
>>> points = np.zeros((478, 3), np.float32)
>>> points[:, 0], points[:, 1] = np.linspace(100, 200, 478), np.linspace(50, 180, 478)
>>> lm = FaceLandmarks.from_points(points, score=0.9, image_size=(320, 240))
>>> lm.bbox, lm.width, lm.xy.shape
((100.0, 50.0, 200.0, 180.0), 100.0, (478, 2))

Coordinates follow MediaPipe's face mesh: ``points`` is (478, 3) float32, x and y in pixels of
the analysed image (x to the right, y down), z in the same pixel scale (MediaPipe's normalised
depth × image width; smaller is nearer the camera, 0 near the centre of the head). Rows 0–467
are the mesh, 468–472 the subject's right iris (centre first), 473–477 the subject's left iris.
"Left" and "right" are always the subject's own: on a frontal portrait the subject's left eye
appears on the image's right. Named groups of rows live in :mod:`faces.mesh`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from faces.errors import FaceError

N_POINTS = 478


@dataclass(frozen=True, eq=False)
class FaceLandmarks:
    """One face: 478 landmarks in the pixel coordinates of the image it was found in.

    ``bbox`` is (x0, y0, x1, y1) in pixels: the extent of the landmarks, clipped to the image.
    ``score`` is the detector's confidence (0–1). ``image_size`` is (width, height) of the image
    the coordinates refer to. ``points`` is read-only.
    """

    points: np.ndarray = field(repr=False)  # a repr never shows a face's geometry (logs)
    bbox: tuple[float, float, float, float]
    score: float
    image_size: tuple[int, int]

    def __post_init__(self) -> None:
        points = np.array(self.points, dtype=np.float32, copy=True)
        if points.shape != (N_POINTS, 3):
            raise FaceError(f"face landmarks must have shape ({N_POINTS}, 3), not {points.shape}")
        if not np.isfinite(points).all():
            raise FaceError("face landmarks must be finite numbers")
        points.setflags(write=False)
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "bbox", tuple(float(v) for v in self.bbox))
        object.__setattr__(self, "score", float(self.score))
        object.__setattr__(self, "image_size", (int(self.image_size[0]), int(self.image_size[1])))

    @classmethod
    def from_points(cls, points: np.ndarray, *, score: float, image_size: tuple[int, int]) -> FaceLandmarks:
        """Landmarks whose ``bbox`` is computed from the points (clipped to ``image_size``)."""
        xy = np.asarray(points, dtype=np.float64)[:, :2]
        width, height = image_size
        x0, y0 = np.clip(xy.min(axis=0), 0, (width, height))
        x1, y1 = np.clip(xy.max(axis=0), 0, (width, height))
        return cls(points=points, bbox=(x0, y0, x1, y1), score=score, image_size=image_size)

    @property
    def xy(self) -> np.ndarray:
        """The (478, 2) image coordinates (a read-only view of ``points``)."""
        return self.points[:, :2]

    @property
    def width(self) -> float:
        """Width of ``bbox`` in pixels: the size :func:`faces.find_face` checks."""
        return self.bbox[2] - self.bbox[0]

    @property
    def height(self) -> float:
        """Height of ``bbox`` in pixels."""
        return self.bbox[3] - self.bbox[1]


@runtime_checkable
class LandmarkBackend(Protocol):
    """Finds faces and their 478 landmarks in one still RGB image.

    ``detect`` returns every face it is confident about, largest first, in the pixel
    coordinates of ``rgb``; an empty list when there is none. It raises :class:`FaceError` for
    an input that is not an RGB ``uint8`` image and :class:`~faces.errors.FaceBackendError`
    when the backend itself fails. Implementations must be safe to call from several threads.
    """

    name: str

    def detect(self, rgb: np.ndarray) -> list[FaceLandmarks]: ...


def as_rgb(image: object, *, what: str = "image") -> np.ndarray:
    """``image`` as a C-contiguous RGB ``uint8`` array (H, W, 3), or a :class:`FaceError` saying what is wrong."""
    if not isinstance(image, np.ndarray):
        raise FaceError(
            f"the {what} must be an RGB uint8 array of shape (height, width, 3), not {type(image).__name__}"
        )
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise FaceError(
            f"the {what} must be an RGB uint8 array of shape (height, width, 3), "
            f"not {image.dtype} of shape {image.shape}"
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise FaceError(f"the {what} is empty ({image.shape[1]}x{image.shape[0]} pixels)")
    return np.ascontiguousarray(image)
