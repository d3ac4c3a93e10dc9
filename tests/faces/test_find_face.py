"""find_face on real portraits: one face with 478 landmarks, or a precise refusal."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from face_factories import SHARED_PORTRAITS, landscape, mirrored, scaled
from matplotlib.path import Path as Polygon

from faces import (
    FaceBackendError,
    FaceError,
    FaceLandmarks,
    FaceTooSmallError,
    LandmarkBackend,
    MediapipeBackend,
    MultipleFacesError,
    NoFaceError,
    find_face,
    mesh,
)
from media import read_image

REPO_ROOT = Path(__file__).resolve().parents[2]


def assert_inside_image(face: FaceLandmarks, image: np.ndarray) -> None:
    height, width = image.shape[:2]
    assert face.points.shape == (478, 3) and face.points.dtype == np.float32
    assert face.image_size == (width, height)
    assert (face.points[:, 0] >= 0).all() and (face.points[:, 0] <= width).all()
    assert (face.points[:, 1] >= 0).all() and (face.points[:, 1] <= height).all()
    x0, y0, x1, y1 = face.bbox
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    assert 0.5 <= face.score <= 1.0


def assert_face_semantics(face: FaceLandmarks) -> None:
    """What any upright, roughly frontal face must satisfy (image y grows downwards)."""
    xy = face.xy
    left_eye, right_eye = mesh.eye_centres(face)
    mouth = xy[list(mesh.LIPS_OUTER)].mean(axis=0)
    assert left_eye[1] < mouth[1] and right_eye[1] < mouth[1], "eyes above the mouth"
    assert xy[mesh.FOREHEAD, 1] < min(left_eye[1], right_eye[1]) and xy[mesh.CHIN, 1] > mouth[1]
    # MediaPipe's "left" is the subject's left: on a frontal portrait, the image's right.
    assert left_eye[0] > right_eye[0]
    assert xy[mesh.MOUTH_CORNERS[1], 0] > xy[mesh.MOUTH_CORNERS[0], 0]
    assert right_eye[0] < xy[mesh.NOSE_TIP, 0] < left_eye[0]
    # Each iris centre lies inside its own eye's lid contour.
    assert Polygon(xy[list(mesh.LEFT_EYE)]).contains_point(xy[mesh.LEFT_IRIS[0]])
    assert Polygon(xy[list(mesh.RIGHT_EYE)]).contains_point(xy[mesh.RIGHT_IRIS[0]])
    # Brows above eyes, upper edge above lower edge; upper lids above lower lids.
    for upper, lower in ((mesh.LEFT_BROW_UPPER, mesh.LEFT_BROW_LOWER), (mesh.RIGHT_BROW_UPPER, mesh.RIGHT_BROW_LOWER),
                         (mesh.LEFT_UPPER_LID[1:-1], mesh.LEFT_LOWER_LID[1:-1]),
                         (mesh.RIGHT_UPPER_LID[1:-1], mesh.RIGHT_LOWER_LID[1:-1]),
                         (mesh.UPPER_LIP_OUTER[1:-1], mesh.LOWER_LIP_OUTER[1:-1])):
        assert xy[list(upper), 1].mean() < xy[list(lower), 1].mean()
    assert xy[list(mesh.LEFT_BROW), 1].mean() < left_eye[1] and xy[list(mesh.RIGHT_BROW), 1].mean() < right_eye[1]


def test_grace_hopper_has_one_face(grace_hopper, grace_hopper_face):
    assert_inside_image(grace_hopper_face, grace_hopper)
    assert_face_semantics(grace_hopper_face)
    assert 150 < grace_hopper_face.width < 230
    assert not grace_hopper_face.points.flags.writeable


@pytest.mark.shared_data
@pytest.mark.parametrize("name", SHARED_PORTRAITS)
def test_each_shared_portrait_has_one_face(portraits, name):
    """Photos, paintings (Mona Lisa, Bouguereau) and cartoons: exactly one face, landmarks in the image."""
    image = read_image(portraits / name)
    face = find_face(image)
    assert_inside_image(face, image)
    assert_face_semantics(face)


@pytest.mark.parametrize("image", [
    pytest.param(np.full((480, 640, 3), 90, np.uint8), id="flat"),
    pytest.param(landscape(), id="landscape"),
    pytest.param(np.random.default_rng(7).integers(0, 256, (480, 640, 3), dtype=np.uint8), id="noise"),
    pytest.param(np.zeros((1, 1, 3), np.uint8), id="one-pixel"),
])
def test_no_face(image):
    with pytest.raises(NoFaceError, match=r"^no face found in the portrait$"):
        find_face(image)


def test_two_faces(grace_hopper):
    both = np.concatenate([grace_hopper, mirrored(grace_hopper)], axis=1)
    with pytest.raises(MultipleFacesError, match=r"^2 faces found: the portrait must show one person$") as info:
        find_face(both)
    assert info.value.http_status == 422 and info.value.exit_code == 2
    face = find_face(both, allow_multiple=True)
    assert face.image_size == (1024, 600)


def test_two_faces_of_different_sizes_allow_multiple_gives_the_largest(grace_hopper):
    small = scaled(grace_hopper, 0.5)
    canvas = np.full((600, 1024, 3), 200, np.uint8)
    canvas[:, :512] = grace_hopper
    canvas[150:450, 650:906] = small
    with pytest.raises(MultipleFacesError):
        find_face(canvas)
    face = find_face(canvas, allow_multiple=True)
    assert face.bbox[2] < 512 and face.width > 150


@pytest.mark.shared_data
def test_two_different_people(grace_hopper, portraits):
    other = read_image(portraits / "lp_s42.jpg")  # 512x512
    with pytest.raises(MultipleFacesError, match=r"^2 faces found"):
        find_face(np.concatenate([grace_hopper[:512], other], axis=1))


def test_tiny_face_is_refused_with_its_size(grace_hopper):
    tiny = scaled(grace_hopper, 0.21)  # the face is ~40 px wide
    with pytest.raises(FaceTooSmallError, match=r"^the face is (3[5-9]|4[0-5]) px wide; at least 96 px are needed$"):
        find_face(tiny)
    canvas = np.full((512, 512, 3), 128, np.uint8)
    canvas[100:100 + tiny.shape[0], 200:200 + tiny.shape[1]] = tiny
    with pytest.raises(FaceTooSmallError, match=r"at least 96 px are needed$"):
        find_face(canvas)
    face = find_face(canvas, min_face_px=32)
    assert 200 < face.bbox[0] and face.bbox[2] < 200 + tiny.shape[1]


def test_reported_width_is_below_the_minimum(grace_hopper):
    face = find_face(grace_hopper)
    with pytest.raises(FaceTooSmallError) as info:
        find_face(grace_hopper, min_face_px=int(face.width) + 1)
    assert str(info.value) == f"the face is {int(face.width)} px wide; at least {int(face.width) + 1} px are needed"


@pytest.mark.parametrize(("image", "message"), [
    pytest.param([[0, 0, 0]], "not list", id="list"),
    pytest.param(None, "not NoneType", id="none"),
    pytest.param(np.zeros((64, 64), np.uint8), "not uint8 of shape (64, 64)", id="grey"),
    pytest.param(np.zeros((64, 64, 4), np.uint8), "not uint8 of shape (64, 64, 4)", id="rgba"),
    pytest.param(np.zeros((64, 64, 3), np.float32), "not float32 of shape (64, 64, 3)", id="float"),
    pytest.param(np.zeros((0, 64, 3), np.uint8), "is empty", id="empty"),
])
def test_wrong_input_is_a_face_error(image, message):
    with pytest.raises(FaceError) as info:
        find_face(image)
    assert message in str(info.value)
    assert not isinstance(info.value, FaceBackendError)
    assert str(info.value).startswith("the portrait ")


def test_non_contiguous_input_is_accepted(grace_hopper):
    view = np.ascontiguousarray(grace_hopper.transpose(1, 0, 2)).transpose(1, 0, 2)  # same pixels, other strides
    assert not view.flags.c_contiguous
    assert find_face(view).width > 150


@pytest.mark.parametrize("factor", [2.0, 3.0])
def test_landmarks_map_back_to_a_large_image(grace_hopper, grace_hopper_face, factor):
    """Detection runs on a downscaled copy (3x is 1536x1800, over 1280), landmarks in the original pixels."""
    large = scaled(grace_hopper, factor)
    face = find_face(large)
    assert face.image_size == (large.shape[1], large.shape[0])
    error = np.abs(face.points[:, :2] / factor - grace_hopper_face.points[:, :2])
    assert error.mean() < 1.5 and np.median(error) < 1.0
    depth_ratio = np.ptp(face.points[:, 2]) / np.ptp(grace_hopper_face.points[:, 2])
    assert depth_ratio == pytest.approx(factor, rel=0.1), "z is in the same pixel scale as x"
    assert face.width == pytest.approx(factor * grace_hopper_face.width, rel=0.05)


def test_landmarks_map_back_from_a_corner_of_a_large_canvas(grace_hopper, grace_hopper_face):
    canvas = np.full((2000, 3000, 3), 235, np.uint8)
    top, left = 1300, 2400
    canvas[top:top + 600, left:left + 512] = grace_hopper
    face = find_face(canvas)
    shifted_back = face.points[:, :2] - np.array([left, top], np.float32)
    assert np.abs(shifted_back - grace_hopper_face.points[:, :2]).mean() < 2.0


def test_a_small_second_face_in_a_large_image_is_counted(grace_hopper):
    """Both faces are under 8% of the image's side: found by the tiled search, and counted."""
    canvas = np.full((1600, 2400, 3), 220, np.uint8)
    canvas[100:700, 200:712] = grace_hopper  # a face ~185 px wide
    small = scaled(grace_hopper, 0.45)  # ~84 px wide
    canvas[1200:1200 + small.shape[0], 2000:2000 + small.shape[1]] = small
    with pytest.raises(MultipleFacesError, match=r"^2 faces found"):
        find_face(canvas)
    face = find_face(canvas, allow_multiple=True)
    assert 200 < face.bbox[0] and face.bbox[2] < 712


def test_a_face_cut_by_the_image_edge(grace_hopper, grace_hopper_face):
    """A face partly outside the frame is still found; its box is clipped to the image."""
    x_cut = int(grace_hopper_face.xy[mesh.NOSE_TIP, 0]) + 20
    cropped = np.ascontiguousarray(grace_hopper[:, :x_cut])
    face = find_face(cropped, min_face_px=32)
    assert face.bbox[2] <= x_cut and face.points[:, 0].max() > x_cut - 5


def test_backends_are_interchangeable(grace_hopper, grace_hopper_face):
    with MediapipeBackend(min_detection_confidence=0.6) as backend:
        assert isinstance(backend, LandmarkBackend) and backend.name == "mediapipe"
        face = find_face(grace_hopper, backend=backend)
        assert np.abs(face.points - grace_hopper_face.points).max() < 1e-3
        backend.close()  # closing releases the graphs; the next call builds them again
        assert len(backend.detect(grace_hopper)) == 1


def test_concurrent_calls_agree(grace_hopper, grace_hopper_face):
    images = [grace_hopper, mirrored(grace_hopper)] * 4
    with ThreadPoolExecutor(max_workers=4) as pool:
        faces = list(pool.map(find_face, images))
    for face in faces[0::2]:
        assert np.abs(face.points - grace_hopper_face.points).max() < 1e-3
    for face in faces[1::2]:
        assert np.abs(face.points - faces[1].points).max() < 1e-3


def test_first_use_prints_nothing():
    """A fresh process: importing faces and finding a face writes nothing to stdout or stderr."""
    code = textwrap.dedent("""
        import sys
        import matplotlib.cbook
        from faces import find_face
        from media import read_image
        image = read_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
        faces = [find_face(image) for _ in range(3)]
        sys.stderr.write("done\\n")
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == "done\n"
