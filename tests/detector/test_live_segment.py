"""`detect` on one segment saved from a live stream: trusted on its own, its watermark the manifest's generation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detector import analyse
from media.samples import card_frames
from provenance import LiveRelease, ProvenanceIdentity
from provenance.samples import selftest_claim


def _segments(identity: ProvenanceIdentity, tmp_path: Path) -> tuple[list[Path], LiveRelease]:
    live = LiveRelease(claim=selftest_claim(), identity=identity, work_dir=tmp_path / "work")
    live.add_audio(np.zeros(32_000, np.float32))
    paths = []
    for frame in card_frames(seconds=2.0):
        if (segment := live.add_frame(frame)) is not None:
            path = tmp_path / f"segment-{segment.sequence_number}.mp4"
            path.write_bytes(segment.data)
            paths.append(path)
    return paths, live


def _check(report, live: LiveRelease, *, sequence: int) -> None:  # type: ignore[no-untyped-def]
    assert report.c2pa["state"] == "trusted"
    assert report.c2pa["generation_id"] == live.claim.generation_id
    assert report.c2pa["live_segment"]["sequence_number"] == sequence
    assert report.c2pa["live_segment"]["stream_id"] == live.stream_id
    assert report.watermark.found and report.watermark.generation_id == live.claim.generation_id
    assert report.watermark.frames_read == 25
    assert report.verdict == "generated-by-likeness"


@pytest.mark.parametrize("classifier", [None, "default"])
def test_a_saved_segment_reads_trusted_with_its_watermark(identity, repository, tmp_path, classifier):
    paths, live = _segments(identity, tmp_path)
    assert len(paths) == 2
    # While the session is open the repository does not know the generation yet: the trusted
    # manifest naming the same generation vouches for the watermark.
    open_report = analyse(paths[1], trust_anchors_pem=identity.trust_anchors_pem,
                          watermark_key=identity.watermark_key, repository=repository, classifier=classifier)
    _check(open_report, live, sequence=2)
    assert open_report.watermark.known is None and "not (yet)" in (open_report.watermark.reason or "")

    live.finish(repository=repository, dest=tmp_path / "recording.mp4")
    closed = analyse(paths[0], trust_anchors_pem=identity.trust_anchors_pem,
                     watermark_key=identity.watermark_key, repository=repository, classifier=classifier)
    _check(closed, live, sequence=1)
    assert closed.watermark.known is True and closed.manifest_lookup.found


def test_a_flipped_byte_in_a_segment_reads_invalid(identity, tmp_path):
    paths, live = _segments(identity, tmp_path)
    live.abandon()
    data = bytearray(paths[0].read_bytes())
    data[-3000] ^= 0x01  # inside the fragment's media data
    paths[0].write_bytes(bytes(data))
    report = analyse(paths[0], trust_anchors_pem=identity.trust_anchors_pem, watermark_key=identity.watermark_key,
                     repository=None, classifier=None)
    assert report.c2pa["state"] == "invalid"
