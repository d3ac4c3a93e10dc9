"""Rendering poses of a rigged portrait, checked by re-finding the face in the rendered frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
import pytest

from faces import FaceLandmarks, eye_openness, find_face, head_pose, mouth_opening
from faces.mesh import LIPS_INNER, eye_centres
from generator.pose import FramePose
from generator.render import frame_landmarks, render_frame
from generator.rig import PortraitRig, build_rig

TALKING = FramePose(jaw_open=0.6, lip_width=0.3, teeth=0.7, tongue=0.3, smile=0.2, lip_tuck=0.0)


def _read_rgb(path: Path | str) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, path
    return np.ascontiguousarray(bgr[..., ::-1])


@pytest.fixture(scope="module")
def rig() -> PortraitRig:
    grace = _read_rgb(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return build_rig(grace, find_face(grace))


@pytest.fixture(scope="module")
def neutral(rig: PortraitRig) -> FaceLandmarks:
    return find_face(render_frame(rig, FramePose()))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def _luminance_inside(frame: np.ndarray, polygon: np.ndarray) -> float:
    mask = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8))
    assert mask.sum() > 30
    return float(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[mask > 0].mean())


def test_frames_are_512_rgb_uint8_and_deterministic(rig: PortraitRig):
    for pose in (FramePose(), TALKING, FramePose(yaw=9, pitch=-4, roll=3, tx=5, ty=-3, scale=1.03, blink_left=1)):
        first, second = render_frame(rig, pose), render_frame(rig, pose)
        assert first.shape == (512, 512, 3) and first.dtype == np.uint8 and first.flags["C_CONTIGUOUS"]
        assert np.array_equal(first, second)
    assert not np.shares_memory(render_frame(rig, FramePose()), rig.image)


def test_the_neutral_pose_is_the_aligned_portrait(rig: PortraitRig):
    assert _psnr(render_frame(rig, FramePose()), rig.image) > 35.0
    # a pose that moves almost nothing stays almost the portrait too (the warp itself loses little)
    assert _psnr(render_frame(rig, FramePose(yaw=0.01, jaw_open=0.001)), rig.image) > 35.0


def test_jaw_open_opens_the_mouth_onto_a_dark_cavity(rig: PortraitRig, neutral: FaceLandmarks):
    frame = render_frame(rig, FramePose(jaw_open=1.0))
    opened = find_face(frame)
    assert mouth_opening(opened) > mouth_opening(neutral) + 0.06
    inner = frame_landmarks(rig, FramePose(jaw_open=1.0))[list(LIPS_INNER)]
    assert _luminance_inside(frame, inner) < _luminance_inside(rig.image, inner) - 40
    # half open is in between
    half = mouth_opening(find_face(render_frame(rig, FramePose(jaw_open=0.5))))
    assert mouth_opening(neutral) + 0.02 < half < mouth_opening(opened)


def test_teeth_show_as_a_light_band_under_the_upper_lip(rig: PortraitRig):
    pose = FramePose(jaw_open=0.7)
    bare, toothy = render_frame(rig, pose), render_frame(rig, FramePose(jaw_open=0.7, teeth=1.0))
    lm = frame_landmarks(rig, pose)
    upper = lm[[82, 13, 312]]  # just under the middle of the upper lip
    band = np.concatenate([upper, upper[::-1] + np.array([0.0, 0.08 * rig.unit])])
    assert _luminance_inside(toothy, band) > _luminance_inside(bare, band) + 60


def test_pressed_lips_close_the_mouth(rig: PortraitRig):
    open_ = mouth_opening(find_face(render_frame(rig, FramePose(jaw_open=0.4))))
    pressed = mouth_opening(find_face(render_frame(rig, FramePose(jaw_open=0.4, lip_press=1.0))))
    assert pressed < 0.01 < open_


def test_blink_closes_both_eyes(rig: PortraitRig, neutral: FaceLandmarks):
    closed = eye_openness(find_face(render_frame(rig, FramePose(blink_left=1.0, blink_right=1.0))))
    before = eye_openness(neutral)
    assert all(c < 0.5 * b for c, b in zip(closed, before, strict=True)), (closed, before)
    # one eye: the subject's left (on the image's right) closes, the right stays open
    left, right = eye_openness(find_face(render_frame(rig, FramePose(blink_left=1.0))))
    assert left < 0.5 * before[0] and right > 0.75 * before[1]


def test_yaw_turns_the_head_towards_the_viewers_right(rig: PortraitRig, neutral: FaceLandmarks):
    yaw0 = head_pose(neutral)[0]

    def nose_offset(lm: FaceLandmarks) -> float:  # nose tip relative to the face's sides
        return float(lm.points[1, 0] - lm.points[[234, 454], 0].mean())

    for sign in (1, -1):
        turned = find_face(render_frame(rig, FramePose(yaw=15.0 * sign)))
        assert sign * (head_pose(turned)[0] - yaw0) > 8.0
        assert sign * (nose_offset(turned) - nose_offset(neutral)) > 0.15 * rig.unit


def test_pitch_and_roll_follow_their_conventions(rig: PortraitRig, neutral: FaceLandmarks):
    rolled = find_face(render_frame(rig, FramePose(roll=10.0)))
    assert head_pose(rolled)[2] - head_pose(neutral)[2] == pytest.approx(10.0, abs=2.5)
    nodded = find_face(render_frame(rig, FramePose(pitch=10.0)))
    assert nodded.points[1, 1] > neutral.points[1, 1] + 0.05 * rig.unit  # the nose goes down


def test_gaze_moves_the_irises_within_the_eyes(rig: PortraitRig, neutral: FaceLandmarks):
    def iris_offset(lm: FaceLandmarks) -> np.ndarray:
        left, right = eye_centres(lm)
        return np.mean([lm.points[473, :2] - left, lm.points[468, :2] - right], axis=0)

    base = iris_offset(neutral)
    for sign in (1, -1):
        moved = find_face(render_frame(rig, FramePose(gaze_x=float(sign))))
        assert sign * (iris_offset(moved)[0] - base[0]) > 0.015 * rig.unit
        # the lids stay where they were
        assert np.abs(eye_openness(moved)[0] - eye_openness(neutral)[0]) < 0.05
    # and where the renderer says they go
    predicted = frame_landmarks(rig, FramePose(gaze_x=1.0))[[468, 473]] - rig.points[[468, 473], :2]
    assert (predicted[:, 0] > 0.03 * rig.unit).all()


def test_mouth_and_eye_motion_leave_the_background_untouched(rig: PortraitRig):
    frame = render_frame(rig, FramePose(jaw_open=1.0, lip_width=-0.8, teeth=1.0, tongue=1.0, smile=0.5,
                                        blink_left=1.0, gaze_x=0.7, brow_raise=0.6))
    border = np.ones((512, 512), bool)
    border[48:-48, 48:-48] = False
    assert np.array_equal(frame[border], rig.image[border])
    changed = np.abs(frame.astype(int) - rig.image.astype(int)).max(axis=-1) > 0
    ys, xs = np.nonzero(changed)
    # only around the face: nothing changes beyond about 1.5 face units from it
    centre = rig.points[:468, :2].mean(axis=0)
    assert np.hypot(xs - centre[0], ys - centre[1]).max() < 2.5 * rig.unit


def test_head_motion_moves_the_head_but_not_the_frame_edge(rig: PortraitRig):
    frame = render_frame(rig, FramePose(yaw=12.0, pitch=-6.0, roll=5.0, tx=6.0, ty=-4.0, scale=1.04))
    edge = np.ones((512, 512), bool)
    edge[2:-2, 2:-2] = False
    assert np.abs(frame[edge].astype(int) - rig.image[edge].astype(int)).max() <= 2
    # no tearing: the frame stays as smooth as the portrait (a tear adds sharp edges)
    def edges(img: np.ndarray) -> float:
        return float(np.abs(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_32F)).mean())
    assert edges(frame) < 1.1 * edges(rig.image)


def test_frame_landmarks_are_where_the_face_is_found(rig: PortraitRig):
    for pose in (FramePose(jaw_open=0.5), FramePose(yaw=10.0, roll=-4.0), TALKING):
        found = find_face(render_frame(rig, pose))
        predicted = frame_landmarks(rig, pose)
        error = np.linalg.norm(found.points[:468, :2] - predicted[:468], axis=1)
        assert np.median(error) < 0.06 * rig.unit, pose


@pytest.mark.shared_data
def test_shared_portraits_talk_blink_and_turn(shared_data: Path):
    paths = sorted(p for p in (shared_data / "portraits").glob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if not paths:
        pytest.skip("no shared portraits")
    for path in paths:
        rgb = _read_rgb(path)
        rig = build_rig(rgb, find_face(rgb, min_face_px=40))
        neutral = find_face(render_frame(rig, FramePose()))
        opened = find_face(render_frame(rig, FramePose(jaw_open=1.0, teeth=0.5)))
        assert mouth_opening(opened) > mouth_opening(neutral) + 0.05, path.name
        closed = eye_openness(find_face(render_frame(rig, FramePose(blink_left=1.0, blink_right=1.0))))
        assert np.mean(closed) < 0.75 * np.mean(eye_openness(neutral)), (path.name, closed)
        turned = find_face(render_frame(rig, FramePose(yaw=15.0)))
        assert head_pose(turned)[0] - head_pose(neutral)[0] > 8.0, path.name
