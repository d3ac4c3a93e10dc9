"""Exactly one usable face in a portrait: :func:`find_face`.

>>> import numpy as np
>>> from faces import NoFaceError, find_face
>>> try:
...     find_face(np.full((256, 256, 3), 128, np.uint8))
... except NoFaceError as err:
...     print(err)
no face found in the portrait

The checks come in this order: an RGB ``uint8`` image, at least one face, not more than one
(unless ``allow_multiple``), and a face at least ``min_face_px`` wide (the width of its
landmarks' box, in the image's own pixels).
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from faces.errors import FaceTooSmallError, MultipleFacesError, NoFaceError
from faces.landmarks import FaceLandmarks, LandmarkBackend, as_rgb
from faces.mediapipe_backend import MediapipeBackend

logger = logging.getLogger(__name__)

_DEFAULT_LOCK = threading.Lock()
_default: MediapipeBackend | None = None


def default_backend() -> MediapipeBackend:
    """The process-wide :class:`MediapipeBackend` that :func:`find_face` uses when given none."""
    global _default
    with _DEFAULT_LOCK:
        if _default is None:
            _default = MediapipeBackend()
        return _default


def find_face(
    rgb: np.ndarray,
    *,
    min_face_px: int = 96,
    allow_multiple: bool = False,
    backend: LandmarkBackend | None = None,
) -> FaceLandmarks:
    """The one face in ``rgb`` (an RGB ``uint8`` array, H×W×3), with landmarks in its pixels.

    Raises :class:`~faces.errors.NoFaceError`, :class:`~faces.errors.MultipleFacesError` (unless
    ``allow_multiple``, which returns the largest face), :class:`~faces.errors.FaceTooSmallError`
    when the face is narrower than ``min_face_px``, and :class:`~faces.errors.FaceError` for an
    input that is not an RGB image.
    """
    image = as_rgb(rgb, what="portrait")
    if min_face_px < 1:
        raise ValueError(f"min_face_px must be at least 1, not {min_face_px}")
    backend = backend if backend is not None else default_backend()
    started = time.perf_counter()
    faces = backend.detect(image)
    logger.debug("%s found %d face(s) in a %dx%d image in %.1f ms", backend.name, len(faces),
                 image.shape[1], image.shape[0], 1000 * (time.perf_counter() - started))
    if not faces:
        raise NoFaceError("no face found in the portrait")
    if len(faces) > 1 and not allow_multiple:
        raise MultipleFacesError(f"{len(faces)} faces found: the portrait must show one person")
    face = max(faces, key=lambda f: f.width * f.height)
    if face.width < min_face_px:
        raise FaceTooSmallError(f"the face is {int(face.width)} px wide; at least {min_face_px} px are needed")
    return face
