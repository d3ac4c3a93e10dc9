"""Rows of the 478-point face mesh the rig needs: :mod:`faces.mesh`'s groups, plus the lips' inner rings.

>>> from generator import _topology as topo
>>> len(topo.LIPS_UPPER_INNER), topo.LIPS_UPPER_INNER[0], topo.RIGHT_IRIS[0]
(11, 78, 468)

Lips run from the subject's right corner (the image's left) to the left one; each ring pairs column
by column with the others. Lids run from the inner eye corner outwards. "Left" and "right" are the
subject's own (the right eye is on the image's left).
"""

from __future__ import annotations

import numpy as np

from faces import mesh

LIPS_UPPER_OUTER = np.array(mesh.UPPER_LIP_OUTER)
LIPS_LOWER_OUTER = np.array(mesh.LOWER_LIP_OUTER)
LIPS_UPPER_INNER = np.array(mesh.UPPER_LIP_INNER)
LIPS_LOWER_INNER = np.array(mesh.LOWER_LIP_INNER)
# The two rings of points inside each lip, between its outer and inner line (not in faces.mesh).
LIPS_UPPER_SEMI_OUTER = np.array([76, 184, 74, 73, 72, 11, 302, 303, 304, 408, 306])
LIPS_LOWER_SEMI_OUTER = np.array([76, 77, 90, 180, 85, 16, 315, 404, 320, 307, 306])
LIPS_UPPER_SEMI_INNER = np.array([62, 183, 42, 41, 38, 12, 268, 271, 272, 407, 292])
LIPS_LOWER_SEMI_INNER = np.array([62, 96, 89, 179, 86, 15, 316, 403, 319, 325, 292])
# Each lip's rings from the outer line to the inner one.
LIPS_UPPER_RINGS = (LIPS_UPPER_OUTER, LIPS_UPPER_SEMI_OUTER, LIPS_UPPER_SEMI_INNER, LIPS_UPPER_INNER)
LIPS_LOWER_RINGS = (LIPS_LOWER_OUTER, LIPS_LOWER_SEMI_OUTER, LIPS_LOWER_SEMI_INNER, LIPS_LOWER_INNER)
LIPS_CORNERS = np.unique(np.r_[[ring[[0, -1]] for ring in LIPS_UPPER_RINGS]])
LIPS_UPPER = np.unique(np.r_[[ring[1:-1] for ring in LIPS_UPPER_RINGS]])
LIPS_LOWER = np.unique(np.r_[[ring[1:-1] for ring in LIPS_LOWER_RINGS]])
LIPS_ALL = np.unique(np.r_[LIPS_CORNERS, LIPS_UPPER, LIPS_LOWER])

RIGHT_EYE_UPPER = np.array(mesh.RIGHT_UPPER_LID)
RIGHT_EYE_LOWER = np.array(mesh.RIGHT_LOWER_LID)
LEFT_EYE_UPPER = np.array(mesh.LEFT_UPPER_LID)
LEFT_EYE_LOWER = np.array(mesh.LEFT_LOWER_LID)
RIGHT_EYE = np.array(mesh.RIGHT_EYE)
LEFT_EYE = np.array(mesh.LEFT_EYE)
RIGHT_IRIS = np.array(mesh.RIGHT_IRIS)  # centre first
LEFT_IRIS = np.array(mesh.LEFT_IRIS)
RIGHT_BROW = np.array(mesh.RIGHT_BROW)
LEFT_BROW = np.array(mesh.LEFT_BROW)
FACE_OVAL = np.array(mesh.FACE_OVAL)
MOUTH_CORNERS = mesh.MOUTH_CORNERS  # (subject's right: image left, subject's left)
NOSE_TIP, CHIN, FOREHEAD = mesh.NOSE_TIP, mesh.CHIN, mesh.FOREHEAD
