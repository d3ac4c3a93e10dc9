"""Measurements on real faces: mouth opening, eye openness, head pose, interocular distance."""

from __future__ import annotations

import numpy as np
import pytest
from face_factories import mirrored, rotated, scaled

from faces import FaceError, FaceTracker, eye_openness, find_face, head_pose, interocular, mesh, mouth_opening
from media import iter_frames, read_image


def clip_faces(path, *, frames: int = 150):
    with FaceTracker() as tracker:
        return [face for frame in iter_frames(path, max_frames=frames) if (face := tracker.track(frame)) is not None]


def test_a_still_frontal_portrait(grace_hopper_face):
    yaw, pitch, roll = head_pose(grace_hopper_face)
    assert abs(yaw) < 6 and abs(pitch) < 10 and abs(roll) < 5
    assert mouth_opening(grace_hopper_face) < 0.02, "her mouth is closed"
    left, right = eye_openness(grace_hopper_face)
    assert 0.15 < left < 0.4 and 0.15 < right < 0.4
    distance = interocular(grace_hopper_face)
    assert 0.35 * grace_hopper_face.width < distance < 0.6 * grace_hopper_face.width


def test_mirroring_negates_yaw_and_roll(grace_hopper, grace_hopper_face):
    yaw, pitch, roll = head_pose(grace_hopper_face)
    m_yaw, m_pitch, m_roll = head_pose(find_face(mirrored(grace_hopper)))
    assert m_yaw == pytest.approx(-yaw, abs=2.5)
    assert m_roll == pytest.approx(-roll, abs=1.5)
    assert m_pitch == pytest.approx(pitch, abs=2.5)
    assert roll < -1 < 1 < m_roll, "her head tilts a little anticlockwise as seen"


@pytest.mark.parametrize("degrees", [10.0, -10.0, 20.0])
def test_rotating_the_image_changes_roll_only(grace_hopper, grace_hopper_face, degrees):
    """OpenCV turns by +10° counter-clockwise as seen, so roll (positive clockwise) drops by 10°."""
    centre = tuple(float(v) for v in grace_hopper_face.xy[mesh.NOSE_TIP])
    face = find_face(rotated(grace_hopper, degrees, centre=centre))
    yaw, pitch, roll = head_pose(grace_hopper_face)
    r_yaw, r_pitch, r_roll = head_pose(face)
    assert r_roll - roll == pytest.approx(-degrees, abs=1.5)
    assert r_yaw == pytest.approx(yaw, abs=3) and r_pitch == pytest.approx(pitch, abs=3)
    assert interocular(face) == pytest.approx(interocular(grace_hopper_face), rel=0.04)


def test_scale_invariance(grace_hopper, grace_hopper_face):
    face = find_face(scaled(grace_hopper, 2.0))
    assert interocular(face) == pytest.approx(2 * interocular(grace_hopper_face), rel=0.02)
    assert mouth_opening(face) == pytest.approx(mouth_opening(grace_hopper_face), abs=0.01)
    assert np.allclose(eye_openness(face), eye_openness(grace_hopper_face), atol=0.03)
    assert np.allclose(head_pose(face), head_pose(grace_hopper_face), atol=2.0)


def test_measurements_take_point_arrays(grace_hopper_face):
    points = np.array(grace_hopper_face.points)
    assert mouth_opening(points[:, :2]) == mouth_opening(grace_hopper_face)
    assert eye_openness(points[:, :2]) == eye_openness(grace_hopper_face)
    assert interocular(points) == interocular(grace_hopper_face)
    assert head_pose(points) == head_pose(grace_hopper_face)
    with pytest.raises(FaceError, match=r"shape \(478, 3\)"):
        head_pose(points[:, :2])  # pose needs depth
    with pytest.raises(FaceError, match="must be FaceLandmarks or an array"):
        mouth_opening(points[:468])
    with pytest.raises(FaceError, match="degenerate"):
        mouth_opening(np.zeros((478, 3)))


@pytest.mark.shared_data
def test_mouth_opening_follows_speech(clips):
    """Over a real talking clip the mouth opens and closes: the measure varies within a sane range."""
    for name in ("lp_d10.mp4", "lp_d6.mp4"):
        values = np.array([mouth_opening(face) for face in clip_faces(clips / name)])
        assert len(values) >= 140
        assert values.min() < 0.01, f"{name}: the lips close at some point"
        assert 0.1 < values.max() < 0.35, f"{name}: the mouth opens wide at some point, but not beyond a face"
        assert values.std() > 0.02
        assert np.percentile(values, 90) > 3 * np.percentile(values, 10) + 0.02


@pytest.mark.shared_data
def test_eye_openness_sees_blinks(clips):
    openness = np.array([eye_openness(face) for face in clip_faces(clips / "lp_d9.mp4")])
    both = openness.mean(axis=1)
    assert np.median(both) > 0.15, "eyes mostly open"
    assert both.min() < 0.08, "he blinks"
    assert np.corrcoef(openness[:, 0], openness[:, 1])[0, 1] > 0.8, "both eyes blink together"


@pytest.mark.shared_data
def test_head_pose_over_a_clip_with_head_turns(clips):
    poses = np.array([head_pose(face) for face in clip_faces(clips / "lp_d12.mp4")])
    yaw, _, roll = poses.T
    assert np.ptp(yaw) > 25, "he turns his head from side to side"
    assert np.all(np.abs(poses) < 60)
    assert np.ptp(roll) < np.ptp(yaw)


@pytest.mark.shared_data
def test_yaw_sign_on_a_turned_face(portraits):
    """Mona Lisa's face is turned towards the viewer's left: negative yaw; mirrored, positive."""
    image = read_image(portraits / "lp_s9.jpg")
    yaw, _, roll = head_pose(find_face(image))
    m_yaw, _, m_roll = head_pose(find_face(mirrored(image)))
    assert yaw < -10 < 10 < m_yaw
    assert m_roll == pytest.approx(-roll, abs=1.5)


@pytest.mark.shared_data
def test_frontal_portraits_read_near_zero_pose(portraits):
    frontal = ["lp_s42.jpg", "lp_s7.jpg", "st_art_5.png", "st_happy.png", "lp_s5.jpg"]
    poses = np.array([head_pose(find_face(read_image(portraits / name))) for name in frontal])
    assert np.all(np.abs(poses[:, 0]) < 6) and np.all(np.abs(poses[:, 1]) < 12) and np.all(np.abs(poses[:, 2]) < 5)
