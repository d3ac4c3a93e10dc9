"""Five keypoints from the face mesh, and the ArcFace alignment that insightface's recognisers expect.

>>> import numpy as np
>>> from faces._align import ARCFACE_TEMPLATE, similarity_transform, template_for
>>> matrix = similarity_transform(ARCFACE_TEMPLATE * 2 + 10, target=ARCFACE_TEMPLATE)
>>> np.round(matrix, 6) + 0.0                 # halves, and shifts back by 5 px
array([[ 0.5,  0. , -5. ],
       [ 0. ,  0.5, -5. ]])
>>> template_for(224)[0].tolist()                      # the template scales with the crop side
[76.5892, 103.3926]

The five points are those of InsightFace's detectors (RetinaFace, SCRFD), in image order: the
eye on the image's left (the subject's right), the eye on the image's right, the nose tip, the
mouth corner on the image's left, the one on the image's right. Here they come from MediaPipe's
478 landmarks: the iris centres (468, 473), the nose (4) and the mouth corners (61, 291). Row 4
sits just above the mesh's nose tip (1); it is where 2-D annotations put the nose: on the portraits
of ../shared/data it lands on the template's nose within 2.6 px (of 112) on average, row 1 within 4.8.
"""

from __future__ import annotations

import cv2
import numpy as np

from faces.landmarks import FaceLandmarks, as_rgb
from faces.mesh import LEFT_IRIS, MOUTH_CORNERS, RIGHT_IRIS

# insightface.utils.face_align.arcface_dst: where the five points land in a 112×112 crop.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
NOSE = 4  # the nose as 2-D detectors annotate it (the mesh's tip, 1, projects lower)
# Rows of the mesh giving the five points, in the template's order (subject's right = image's left).
KEYPOINT_ROWS = (RIGHT_IRIS[0], LEFT_IRIS[0], NOSE, MOUTH_CORNERS[0], MOUTH_CORNERS[1])


def five_keypoints(face: FaceLandmarks) -> np.ndarray:
    """The (5, 2) keypoints of ``face`` in image pixels, in :data:`ARCFACE_TEMPLATE`'s order."""
    return face.xy[list(KEYPOINT_ROWS)].astype(np.float64)


def template_for(size: int) -> np.ndarray:
    """The ArcFace template for a ``size``² crop, as insightface's ``estimate_norm`` scales it."""
    if size % 112 == 0:
        return ARCFACE_TEMPLATE * (size / 112.0)
    ratio = size / 128.0
    template = ARCFACE_TEMPLATE * ratio
    template[:, 0] += 8.0 * ratio
    return template


def similarity_fit(source: np.ndarray, *, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(scale, rotation, shift) of the least-squares similarity with ``target ≈ scale · rotation @ source + shift``.

    Umeyama's closed form without reflection, for points in rows of any dimension (2-D keypoints,
    3-D landmarks); coinciding source points give scale 0 rather than a division by zero.
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    u, singular, vt = np.linalg.svd(dst_c.T @ src_c / len(src))
    sign = np.ones(src.shape[1])
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    variance = float((src_c**2).sum() / len(src))
    scale = float((singular * sign).sum() / max(variance, 1e-12))
    return scale, rotation, dst_mean - scale * rotation @ src_mean


def similarity_transform(source: np.ndarray, *, target: np.ndarray) -> np.ndarray:
    """The 2×3 least-squares similarity (rotation, uniform scale, shift) taking ``source`` onto ``target``
    (:func:`similarity_fit`, as ``skimage.transform.SimilarityTransform`` estimates it)."""
    src = np.asarray(source, dtype=np.float64)
    if ((src - src.mean(axis=0)) ** 2).sum() / len(src) < 1e-12:
        raise ValueError("the keypoints coincide: no alignment is possible")
    scale, rotation, shift = similarity_fit(src, target=target)
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = shift
    return matrix


def align_arcface(rgb: np.ndarray, *, keypoints: np.ndarray, size: int = 112) -> np.ndarray:
    """The ``size``² RGB crop of the face whose five ``keypoints`` are given, aligned on the ArcFace template."""
    image = as_rgb(rgb, what="image")
    matrix = similarity_transform(keypoints, target=template_for(size))
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
