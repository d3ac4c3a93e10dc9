"""The face rig: VASA-1-like framing of real portraits, checked by re-finding the face in the aligned frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
import pytest

from faces import FaceLandmarks, find_face, head_pose, interocular
from faces.mesh import eye_centres
from generator.errors import GeneratorError
from generator.rig import EYE_HEIGHT, INTEROCULAR, PortraitRig, build_rig

PORTRAIT_SUFFIXES = {".jpg", ".jpeg", ".png"}


def _read_rgb(path: Path | str) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, path
    return np.ascontiguousarray(bgr[..., ::-1])


@pytest.fixture(scope="module")
def grace() -> np.ndarray:
    return _read_rgb(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


@pytest.fixture(scope="module")
def grace_rig(grace: np.ndarray) -> PortraitRig:
    return build_rig(grace, find_face(grace))


def _assert_framed(rig: PortraitRig, *, zoom: float = 1.0) -> FaceLandmarks:
    assert rig.image.shape == (512, 512, 3) and rig.image.dtype == np.uint8
    found = find_face(rig.image)
    roll = head_pose(found)[2]
    assert abs(roll) < 2.0, f"eyes not level: roll {roll:.2f}°"
    target = INTEROCULAR * 512 * zoom
    assert abs(interocular(found) - target) < 0.12 * target, (interocular(found), target)
    left, right = eye_centres(found)
    middle = (left + right) / 2.0
    assert abs(middle[1] - EYE_HEIGHT * 512) < 0.04 * 512, middle
    assert abs(middle[0] - 256) < 0.06 * 512, middle
    return found


def test_grace_is_framed_with_level_eyes_and_the_target_face_size(grace_rig: PortraitRig):
    found = _assert_framed(grace_rig)
    # the rig's landmarks are where a fresh detection finds them (lid rows may be refined outwards)
    error = np.linalg.norm(found.points[:468, :2] - grace_rig.points[:468, :2], axis=1)
    assert np.median(error) < 0.04 * grace_rig.unit
    assert grace_rig.unit == pytest.approx(INTEROCULAR * 512, rel=1e-3)
    # head and shoulders: the chin well above the bottom, the forehead well below the top
    assert found.points[152, 1] < 0.8 * 512 and found.points[10, 1] > 0.08 * 512


def test_a_tilted_portrait_is_levelled(grace: np.ndarray):
    h, w = grace.shape[:2]
    tilted = cv2.warpAffine(grace, cv2.getRotationMatrix2D((w / 2, h / 2), 12.0, 1.0), (w, h),
                            borderMode=cv2.BORDER_REFLECT)
    before = head_pose(find_face(tilted))[2]
    assert abs(before) > 8.0
    _assert_framed(build_rig(tilted, find_face(tilted)))


def test_zoom_scales_the_face(grace: np.ndarray):
    rig = build_rig(grace, find_face(grace), zoom=1.2)
    assert rig.unit == pytest.approx(1.2 * INTEROCULAR * 512, rel=1e-3)
    _assert_framed(rig, zoom=1.2)


def test_a_small_off_centre_portrait_is_padded_smoothly(grace: np.ndarray):
    # the face near the image's corner and small: most of the frame is padding
    crop = cv2.resize(grace[60:360, 60:400], (170, 150), interpolation=cv2.INTER_AREA)
    rig = build_rig(crop, find_face(crop, min_face_px=40))
    _assert_framed(rig)
    # padding is the portrait's edge blurred out, not black and not noisy
    corner = rig.image[:40, :40].astype(np.float32)
    assert corner.mean() > 20
    assert np.abs(np.diff(corner, axis=0)).mean() < 3.0 and np.abs(np.diff(corner, axis=1)).mean() < 3.0


def test_the_mesh_covers_the_frame_and_keeps_every_vertex(grace_rig: PortraitRig):
    grid = grace_rig.grid
    used = np.unique(grid.triangles)
    assert len(used) == len(grace_rig.vertices)
    assert grid.weight.min() > -0.5 and np.allclose(grid.weight.sum(axis=0), 1.0, atol=1e-4)
    border = grace_rig.vertices[grace_rig.kind == 3]
    assert border[:, :2].min() < 0 and border[:, :2].max() > 511
    assert (grace_rig.follow[grace_rig.kind == 3] == 0).all() and (grace_rig.follow[grace_rig.kind == 0] == 1).all()


@pytest.mark.parametrize(
    "points",
    [np.zeros((468, 3), np.float32), np.full((478, 3), np.nan, np.float32), np.zeros((478, 2), np.float32)],
    ids=["468 points", "not finite", "no z"],
)
def test_bad_landmarks_are_refused(grace: np.ndarray, points: np.ndarray):
    with pytest.raises(GeneratorError) as err:
        build_rig(grace, points)
    assert err.value.http_status == 422
    assert "landmarks" in str(err.value)


def test_bad_inputs_are_refused(grace: np.ndarray, grace_rig: PortraitRig):
    landmarks = find_face(grace)
    with pytest.raises(GeneratorError, match="RGB uint8"):
        build_rig(grace.astype(np.float32), landmarks)
    with pytest.raises(GeneratorError, match="zoom"):
        build_rig(grace, landmarks, zoom=5.0)
    with pytest.raises(GeneratorError, match="frame size"):
        build_rig(grace, landmarks, size=511)
    collapsed = np.repeat(landmarks.points[:1], 478, axis=0)
    with pytest.raises(GeneratorError, match="degenerate"):
        build_rig(grace, collapsed)


def test_build_rig_is_deterministic(grace: np.ndarray, grace_rig: PortraitRig):
    again = build_rig(grace, find_face(grace))
    assert np.array_equal(again.image, grace_rig.image)
    assert np.array_equal(again.grid.triangles, grace_rig.grid.triangles)
    assert np.array_equal(again.vertices, grace_rig.vertices)


def _shared_portraits(shared: Path) -> list[Path]:
    paths = sorted(p for p in (shared / "portraits").glob("*") if p.suffix.lower() in PORTRAIT_SUFFIXES)
    if not paths:
        pytest.skip(f"no portraits under {shared / 'portraits'}")
    return paths


@pytest.mark.shared_data
def test_every_shared_portrait_is_framed(shared_data: Path):
    for path in _shared_portraits(shared_data):
        rgb = _read_rgb(path)
        rig = build_rig(rgb, find_face(rgb, min_face_px=40))
        _assert_framed(rig)
