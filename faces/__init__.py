"""Faces: find the one face in a portrait, its 478 landmarks, and measurements on them.

>>> import matplotlib.cbook
>>> from faces import find_face, head_pose, interocular, mouth_opening
>>> from media import read_image
>>> portrait = read_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
>>> face = find_face(portrait)                        # exactly one face, at least 96 px wide
>>> face.points.shape, face.image_size
((478, 3), (512, 600))
>>> yaw, pitch, roll = head_pose(face)                # degrees; about 0 for a frontal face
>>> abs(yaw) < 10, mouth_opening(face) < 0.02, 70 < interocular(face) < 100
(True, True, True)
>>> import numpy as np
>>> from faces import FaceError
>>> try:
...     find_face(np.zeros((64, 64), np.uint8))
... except FaceError as err:
...     print(err)
the portrait must be an RGB uint8 array of shape (height, width, 3), not uint8 of shape (64, 64)

:func:`find_face` demands exactly one face at least ``min_face_px`` wide and says precisely what
is wrong otherwise; :class:`FaceTracker` follows a face through a video's frames. The default
backend is MediaPipe 0.10.21 (offline, CPU); any :class:`LandmarkBackend` can stand in for it.
:mod:`faces.mesh` names the groups of landmarks (lips, eyes, irises, brows, oval) and measures
mouth opening, eye openness, head pose and interocular distance. "Left" and "right" are the
subject's own: on a frontal portrait the subject's left eye is on the image's right.
"""

from faces._align import similarity_fit
from faces._dlib import DLIB_CALIBRATION, DlibBackend
from faces._insightface import InsightFaceBackend
from faces.errors import (
    FaceBackendError,
    FaceError,
    FaceTooSmallError,
    IdentityModelError,
    MultipleFacesError,
    NoFaceError,
)
from faces.find import default_backend, find_face
from faces.identity import (
    Calibration,
    Comparison,
    Embedding,
    IdentityBackend,
    MatchResult,
    compare_faces,
    embed_face,
    get_identity_backend,
    match,
    normalised,
    require_calibration,
)
from faces.landmarks import FaceLandmarks, LandmarkBackend
from faces.mediapipe_backend import FaceTracker, MediapipeBackend
from faces.mesh import MOUTH_CORNERS, eye_centres, eye_openness, head_pose, interocular, mouth_opening

__all__ = [
    "DLIB_CALIBRATION",
    "MOUTH_CORNERS",
    "Calibration",
    "Comparison",
    "DlibBackend",
    "Embedding",
    "FaceBackendError",
    "FaceError",
    "FaceLandmarks",
    "FaceTooSmallError",
    "FaceTracker",
    "IdentityBackend",
    "IdentityModelError",
    "InsightFaceBackend",
    "LandmarkBackend",
    "MatchResult",
    "MediapipeBackend",
    "MultipleFacesError",
    "NoFaceError",
    "compare_faces",
    "default_backend",
    "embed_face",
    "eye_centres",
    "eye_openness",
    "find_face",
    "get_identity_backend",
    "head_pose",
    "interocular",
    "match",
    "mouth_opening",
    "normalised",
    "require_calibration",
    "similarity_fit",
]
