"""FaceTracker follows a face through the frames of a video."""

from __future__ import annotations

import numpy as np
import pytest
from face_factories import shifted

from faces import FaceError, FaceTracker, find_face, mesh
from media import iter_frames


def test_tracks_a_moving_real_face(grace_hopper, grace_hopper_face):
    """Fifty frames of the portrait drifting right and down: every frame tracked, landmarks follow."""
    offsets = [(2.0 * i, 0.8 * i) for i in range(50)]
    with FaceTracker() as tracker:
        tracks = [tracker.track(shifted(grace_hopper, dx, dy)) for dx, dy in offsets]
    found = [(offset, face) for offset, face in zip(offsets, tracks, strict=True) if face is not None]
    assert len(found) >= 48
    for (dx, dy), face in found:
        moved = face.xy[mesh.NOSE_TIP] - grace_hopper_face.xy[mesh.NOSE_TIP]
        assert moved == pytest.approx((dx, dy), abs=4.0)
        assert face.image_size == (512, 600) and face.score == 0.5


def test_no_face_gives_none_then_recovers(grace_hopper):
    blank = np.full_like(grace_hopper, 90)
    with FaceTracker() as tracker:
        assert tracker.track(blank) is None
        assert tracker.track(grace_hopper) is not None
        assert tracker.track(blank) is None
        assert tracker.track(grace_hopper) is not None


def test_closed_tracker_and_bad_frames(grace_hopper):
    tracker = FaceTracker()
    with pytest.raises(FaceError, match="the frame must be an RGB uint8 array"):
        tracker.track(np.zeros((10, 10), np.uint8))
    tracker.close()
    tracker.close()
    with pytest.raises(FaceError, match="closed"):
        tracker.track(grace_hopper)
    with pytest.raises(ValueError, match="min_tracking_confidence"):
        FaceTracker(min_tracking_confidence=1.5)


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["lp_d10.mp4", "lp_d3.mp4", "lp_d6.mp4"])
def test_tracks_real_clips(clips, name):
    frames = list(iter_frames(clips / name, max_frames=50))
    with FaceTracker() as tracker:
        tracks = [tracker.track(frame) for frame in frames]
    found = [face for face in tracks if face is not None]
    assert len(found) >= 0.95 * len(frames)
    first = find_face(frames[0])
    assert tracks[0] is not None
    assert np.abs(tracks[0].xy - first.xy).mean() < 3.0, "tracking agrees with the still-image path"
