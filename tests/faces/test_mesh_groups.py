"""faces.mesh's index groups agree with MediaPipe's published FACEMESH_* connection sets."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from mediapipe.python.solutions import face_mesh_connections as connections

import faces
from faces import mesh


def chain(indices: tuple[int, ...]) -> set[frozenset[int]]:
    return {frozenset(pair) for pair in itertools.pairwise(indices)}


def loop(indices: tuple[int, ...]) -> set[frozenset[int]]:
    return chain(indices) | {frozenset((indices[-1], indices[0]))}


def edges(connection_set: frozenset[tuple[int, int]]) -> set[frozenset[int]]:
    return {frozenset(pair) for pair in connection_set}


@pytest.mark.parametrize(("ours", "theirs"), [
    pytest.param(loop(mesh.LEFT_EYE), connections.FACEMESH_LEFT_EYE, id="left-eye"),
    pytest.param(loop(mesh.RIGHT_EYE), connections.FACEMESH_RIGHT_EYE, id="right-eye"),
    pytest.param(chain(mesh.LEFT_UPPER_LID) | chain(mesh.LEFT_LOWER_LID), connections.FACEMESH_LEFT_EYE,
                 id="left-lids"),
    pytest.param(chain(mesh.RIGHT_UPPER_LID) | chain(mesh.RIGHT_LOWER_LID), connections.FACEMESH_RIGHT_EYE,
                 id="right-lids"),
    pytest.param(loop(mesh.LEFT_IRIS[1:]), connections.FACEMESH_LEFT_IRIS, id="left-iris"),
    pytest.param(loop(mesh.RIGHT_IRIS[1:]), connections.FACEMESH_RIGHT_IRIS, id="right-iris"),
    pytest.param(chain(mesh.LEFT_BROW_UPPER) | chain(mesh.LEFT_BROW_LOWER), connections.FACEMESH_LEFT_EYEBROW,
                 id="left-brow"),
    pytest.param(chain(mesh.RIGHT_BROW_UPPER) | chain(mesh.RIGHT_BROW_LOWER), connections.FACEMESH_RIGHT_EYEBROW,
                 id="right-brow"),
    pytest.param(loop(mesh.LIPS_OUTER) | loop(mesh.LIPS_INNER), connections.FACEMESH_LIPS, id="lips"),
    pytest.param(chain(mesh.UPPER_LIP_OUTER) | chain(mesh.LOWER_LIP_OUTER) | chain(mesh.UPPER_LIP_INNER)
                 | chain(mesh.LOWER_LIP_INNER), connections.FACEMESH_LIPS, id="lip-edges"),
    pytest.param(loop(mesh.FACE_OVAL), connections.FACEMESH_FACE_OVAL, id="face-oval"),
])
def test_groups_are_mediapipe_connections_in_order(ours, theirs):
    assert ours == edges(theirs)


def test_groups_are_well_formed():
    closed = [mesh.LEFT_EYE, mesh.RIGHT_EYE, mesh.LIPS_OUTER, mesh.LIPS_INNER, mesh.FACE_OVAL, mesh.LEFT_BROW,
              mesh.RIGHT_BROW]
    for group in closed:
        assert len(set(group)) == len(group), "each point once"
    assert len(mesh.LEFT_EYE) == len(mesh.RIGHT_EYE) == 16 and len(mesh.FACE_OVAL) == 36
    # Lids run from the inner to the outer corner.
    assert (mesh.LEFT_UPPER_LID[0], mesh.LEFT_UPPER_LID[-1]) == mesh.LEFT_EYE_CORNERS == (362, 263)
    assert (mesh.RIGHT_UPPER_LID[0], mesh.RIGHT_UPPER_LID[-1]) == mesh.RIGHT_EYE_CORNERS == (133, 33)
    assert mesh.LEFT_LOWER_LID[::8] == mesh.LEFT_UPPER_LID[::8]
    assert mesh.RIGHT_LOWER_LID[::8] == mesh.RIGHT_UPPER_LID[::8]
    # Lips run from corner 61 to corner 291; inner lips meet at 13 (upper) and 14 (lower).
    for lip in (mesh.UPPER_LIP_OUTER, mesh.LOWER_LIP_OUTER):
        assert (lip[0], lip[-1]) == mesh.MOUTH_CORNERS == (61, 291)
    assert mesh.UPPER_LIP_INNER[5] == 13 and mesh.LOWER_LIP_INNER[5] == 14
    assert set(mesh.LEFT_IRIS) == set(range(473, 478)) and set(mesh.RIGHT_IRIS) == set(range(468, 473))
    assert mesh.FACE_OVAL[0] == mesh.FOREHEAD and mesh.FACE_OVAL[18] == mesh.CHIN
    assert (mesh.NOSE_TIP, mesh.CHIN, mesh.FOREHEAD) == (1, 152, 10)


def test_symmetric_pairs_mirror_each_other(grace_hopper_face):
    """On a frontal face every pair's subject-left point is on the image's right, at the same height."""
    xy = grace_hopper_face.xy
    interocular = mesh.interocular(grace_hopper_face)
    for left, right in mesh.SYMMETRIC_PAIRS:
        assert xy[left, 0] > xy[right, 0]
        assert abs(xy[left, 1] - xy[right, 1]) < 0.25 * interocular
    mid_x = xy[[mesh.FOREHEAD, mesh.NOSE_TIP, mesh.CHIN, mesh.SUBNASALE], 0]
    assert np.ptp(mid_x) < 0.15 * interocular, "the midline points are on one vertical line"


def test_left_is_the_subjects_left(grace_hopper_face):
    """MediaPipe's convention, written down: the subject's left eye appears on the image's right."""
    xy = grace_hopper_face.xy
    assert xy[list(mesh.LEFT_EYE), 0].min() > xy[mesh.NOSE_TIP, 0] > xy[list(mesh.RIGHT_EYE), 0].max()
    assert xy[mesh.LEFT_IRIS[0], 0] > xy[mesh.RIGHT_IRIS[0], 0]
    assert xy[list(mesh.FACE_OVAL[1:18]), 0].min() > xy[list(mesh.FACE_OVAL[19:]), 0].max() - 5


def test_public_surface():
    assert sorted(faces.__all__) == sorted([
        "FaceBackendError", "FaceError", "FaceLandmarks", "FaceTooSmallError", "FaceTracker", "LandmarkBackend",
        "MediapipeBackend", "MultipleFacesError", "NoFaceError", "default_backend", "eye_openness", "find_face",
        "head_pose", "interocular", "mouth_opening",
        # used by other packages (alignment, statement checks, the gate)
        "MOUTH_CORNERS", "eye_centres", "normalised", "require_calibration", "similarity_fit",
        # identity (tests/faces/test_identity*.py)
        "Calibration", "Comparison", "DLIB_CALIBRATION", "DlibBackend", "Embedding", "IdentityBackend",
        "IdentityModelError", "InsightFaceBackend", "MatchResult", "compare_faces", "embed_face",
        "get_identity_backend", "match",
    ])
    for name in faces.__all__:
        assert hasattr(faces, name)
    for error in (faces.FaceError, faces.NoFaceError, faces.MultipleFacesError, faces.FaceTooSmallError):
        assert error.http_status == 422 and error.exit_code == 2
    assert faces.FaceBackendError.http_status == 500 and issubclass(faces.FaceBackendError, faces.FaceError)


def test_similarity_fit_recovers_a_known_similarity_in_2d_and_3d():
    rng = np.random.default_rng(3)
    for dims in (2, 3):
        source = rng.normal(size=(12, dims))
        q, _ = np.linalg.qr(rng.normal(size=(dims, dims)))
        rotation = q if np.linalg.det(q) > 0 else -q if dims % 2 else q @ np.diag([1.0] * (dims - 1) + [-1.0])
        shift = rng.normal(size=dims)
        target = 1.7 * source @ rotation.T + shift
        scale, fitted, fitted_shift = faces.similarity_fit(source, target=target)
        assert scale == pytest.approx(1.7) and np.allclose(fitted, rotation) and np.allclose(fitted_shift, shift)
    mirrored = source * np.array([1.0, 1.0, -1.0])  # a reflection is not a similarity: the best proper fit
    _, proper, _ = faces.similarity_fit(source, target=mirrored)
    assert np.linalg.det(proper) == pytest.approx(1.0)
