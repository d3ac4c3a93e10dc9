"""Live release: every frame of every segment marked, every segment signed and chained, nothing left behind."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from bmff_boxes import top_level_boxes

from media import iter_frames, probe_video
from media.samples import card_frames
from provenance import (
    CallbackSigner,
    LiveRelease,
    ProvenanceIdentity,
    ReleaseError,
    WatermarkCodec,
    segment_chain,
    verify_mp4,
    verify_segments,
)
from provenance.c2pa import GenerationClaim
from provenance.errors import SigningError
from provenance.samples import selftest_claim

RATE = 16_000


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * RATE), dtype=np.float32) / RATE
    return (0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)


def _box_offset(data: bytes, kind: str) -> int:
    offset = 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset:offset + 4], "big")
        if data[offset + 4:offset + 8] == kind.encode():
            return offset
        offset += size
    raise AssertionError(f"no {kind} box")


def _stream(identity: ProvenanceIdentity, directory: Path, *, seconds: float, segment_seconds: float,
            claim: GenerationClaim | None = None) -> tuple[list[Path], LiveRelease]:
    """Run a session over the test card, keep its segments as files, abandon it (no recording)."""
    directory.mkdir(parents=True, exist_ok=True)
    live = LiveRelease(claim=claim or selftest_claim(), identity=identity, work_dir=directory / "work",
                       sample_rate=RATE, segment_seconds=segment_seconds)
    live.add_audio(_tone(seconds))
    segments = [s for frame in card_frames(seconds=seconds) if (s := live.add_frame(frame)) is not None]
    last = live.flush()
    segments += [last] if last is not None else []
    paths = []
    for segment in segments:
        path = directory / f"{segment.sequence_number}.mp4"
        path.write_bytes(segment.data)
        paths.append(path)
    live.abandon()
    return paths, live


@pytest.fixture(scope="module")
def saved(identity: ProvenanceIdentity, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three 0.4 s segments of one session, saved as received."""
    paths, _ = _stream(identity, tmp_path_factory.mktemp("live"), seconds=1.2, segment_seconds=0.4)
    assert len(paths) == 3
    return paths


@pytest.fixture(scope="module")
def foreign(identity: ProvenanceIdentity, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Segments of another session, signed by the same identity."""
    paths, _ = _stream(identity, tmp_path_factory.mktemp("other"), seconds=0.8, segment_seconds=0.4)
    return paths


def test_a_session_streams_marked_signed_segments_and_releases_the_recording(identity, repository, tmp_path):
    claim = selftest_claim()
    work = tmp_path / "work"
    segments = []
    with LiveRelease(claim=claim, identity=identity, work_dir=work, sample_rate=RATE) as live:
        frames = list(card_frames(seconds=2.4))
        for index, frame in enumerate(frames):
            if index % 5 == 0:  # audio arrives in 200 ms chunks, ahead of the frames
                live.add_audio(_tone(2.4)[index * RATE // 25:(index + 5) * RATE // 25])
            if (segment := live.add_frame(frame)) is not None:
                segments.append(segment)
        assert [s.sequence_number for s in segments] == [1, 2]  # two full 1 s segments so far
        recording = live.finish(repository=repository, dest=tmp_path / "out" / "recording.mp4")

    assert [s.sequence_number for s in recording.segments] == [1, 2, 3]
    assert [s.frames for s in recording.segments] == [25, 25, 10]
    assert segments[1].previous_manifest_id == segments[0].manifest_id
    assert all(s.audio_padded_s == 0 for s in segments)
    assert list(work.iterdir()) == []  # the session's files are gone

    codec = WatermarkCodec(identity.watermark_key)
    files = []
    for segment in segments:
        path = tmp_path / f"segment-{segment.sequence_number}.mp4"
        path.write_bytes(segment.data)
        files.append(path)
        assert top_level_boxes(segment.data)[:5] == ["ftyp", "uuid", "moov", "moof", "mdat"]
        info = probe_video(path)
        assert (info.width, info.height, info.video_codec, info.audio_codec) == (512, 512, "h264", "aac")
        report = verify_mp4(path, trust_anchors_pem=identity.trust_anchors_pem)
        assert report.state == "trusted" and report.generation_id == claim.generation_id
        assert report.live_segment is not None
        assert report.live_segment["sequence_number"] == segment.sequence_number
        assert report.live_segment["stream_id"] == live.stream_id
        # No frame leaves unmarked: every decoded frame, first and last included, carries the id alone.
        decoded = list(iter_frames(path))
        assert len(decoded) == segment.frames
        for index, frame in enumerate(decoded):
            reader = codec.reader()
            reader.add_frame(frame)
            found = reader.result()
            assert found.found and found.watermark_id == claim.watermark_id, (segment.sequence_number, index)

    # The recording: a normal generation through the release path.
    released = recording.released
    assert released.frames == 60 and released.generation_id == claim.generation_id
    assert verify_mp4(released.path, trust_anchors_pem=identity.trust_anchors_pem).state == "trusted"
    record = repository.by_watermark_id(claim.watermark_id)
    assert record is not None and record.output_sha256 == released.sha256
    assert probe_video(released.path).audio_codec == "aac"
    assert sorted(p.name for p in released.path.parent.iterdir()) == ["recording.mp4"]

    # The hash chain of the segments, for the audit log.
    assert recording.chain == segment_chain(live.stream_id, [s.sha256 for s in recording.segments])
    assert recording.segments[0].sha256 == segments[0].sha256
    check = verify_segments(files, trust_anchors_pem=identity.trust_anchors_pem)
    assert check.ok, check.problems
    assert check.chain[:3] == recording.chain[:3]


def test_saved_segments_verify_in_order(saved, identity):
    check = verify_segments(saved, trust_anchors_pem=identity.trust_anchors_pem)
    assert check.ok, check.problems
    assert [v.sequence_number for v in check.segments] == [1, 2, 3]
    head = check.chain[-1]
    assert verify_segments(saved, trust_anchors_pem=identity.trust_anchors_pem, chain_head=head).ok


def test_a_flipped_byte_reads_invalid_and_is_named(saved, identity, tmp_path):
    data = bytearray(saved[1].read_bytes())
    data[_box_offset(bytes(data), "mdat") + 200] ^= 0x01
    tampered = tmp_path / "2.mp4"
    tampered.write_bytes(bytes(data))
    assert verify_mp4(tampered, trust_anchors_pem=identity.trust_anchors_pem).state == "invalid"
    check = verify_segments([saved[0], tampered, saved[2]], trust_anchors_pem=identity.trust_anchors_pem)
    assert not check.ok
    assert [bool(v.problems) for v in check.segments] == [False, True, False]
    assert check.segments[1].problems[0].startswith("invalid")
    assert "segment 2 (2.mp4)" in check.problems[0]


def test_data_hidden_outside_the_signature_is_named(saved, identity, tmp_path):
    """A `free` box with a payload stays outside the C2PA hash (still trusted): named all the same."""
    hidden = tmp_path / "2.mp4"
    payload = b"not covered by any signature"
    hidden.write_bytes(saved[1].read_bytes() + (8 + len(payload)).to_bytes(4, "big") + b"free" + payload)
    assert verify_mp4(hidden, trust_anchors_pem=identity.trust_anchors_pem).state == "trusted"
    check = verify_segments([saved[0], hidden, saved[2]], trust_anchors_pem=identity.trust_anchors_pem)
    assert [v.problems for v in check.segments] == [[], ["data outside the signed hash: free (36 bytes)"], []]


def test_reordered_segments_are_named(saved, identity):
    check = verify_segments([saved[0], saved[2], saved[1]], trust_anchors_pem=identity.trust_anchors_pem)
    assert not check.ok
    assert "out of order: segment 3 comes before segment(s) 2" in check.segments[1].problems
    assert "out of order: segment 2 comes after segment 3" in check.segments[2].problems


def test_dropped_segments_are_named(saved, identity):
    check = verify_segments([saved[0], saved[2]], trust_anchors_pem=identity.trust_anchors_pem)
    assert not check.ok
    assert check.segments[1].problems == ["segment(s) 2 dropped before this one"]
    late = verify_segments(saved[1:], trust_anchors_pem=identity.trust_anchors_pem)
    assert late.segments[0].problems == ["segment(s) 1 dropped before this one"]


def test_a_truncated_stream_is_caught_by_the_chain_head(saved, identity):
    head = verify_segments(saved, trust_anchors_pem=identity.trust_anchors_pem).chain[-1]
    check = verify_segments(saved[:2], trust_anchors_pem=identity.trust_anchors_pem, chain_head=head)
    assert not check.ok and "chain head" in check.problems[-1]


def test_duplicated_segments_are_named(saved, identity):
    check = verify_segments([saved[0], saved[1], saved[1], saved[2]], trust_anchors_pem=identity.trust_anchors_pem)
    assert check.segments[2].problems == ["duplicate of segment 2, which came earlier"]
    assert check.segments[3].ok


def test_a_foreign_segment_is_named(saved, foreign, identity):
    check = verify_segments([saved[0], foreign[1], saved[2]], trust_anchors_pem=identity.trust_anchors_pem)
    assert not check.ok
    assert check.segments[1].problems[0].startswith("foreign: from stream")
    assert check.segments[2].problems == ["segment(s) 2 dropped before this one"]


def test_a_spliced_segment_of_the_same_stream_breaks_the_chain(saved, identity, tmp_path):
    """A fork of the stream (same claim, same stream id: a replayed or forged session) signs its own
    segment 2; spliced after our segment 1 it has the right sequence but not the right predecessor."""
    ours = verify_segments(saved, trust_anchors_pem=identity.trust_anchors_pem)
    claim = selftest_claim(watermark_id=int(ours.generation_id.removeprefix("gen_"), 16))
    live = LiveRelease(claim=claim, identity=identity, work_dir=tmp_path / "work", sample_rate=RATE,
                       segment_seconds=0.4, stream_id=ours.stream_id)
    fork = [s for frame in card_frames(seconds=0.8) if (s := live.add_frame(frame)) is not None]
    live.abandon()
    spliced = tmp_path / "2.mp4"
    spliced.write_bytes(fork[1].data)
    check = verify_segments([saved[0], spliced, saved[2]], trust_anchors_pem=identity.trust_anchors_pem)
    problems = check.segments[1].problems
    assert problems[0].startswith("previous manifest id") and "is not that of segment 1" in problems[0]
    assert problems[1] == "previous segment hash does not match segment 1 as given"
    assert check.segments[2].problems[0].startswith("previous manifest id")  # 3 does not follow the fork


def test_untrusted_anchors_fail_every_segment(saved, identity):
    check = verify_segments(saved, trust_anchors_pem=None)
    assert not check.ok and all(v.state == "untrusted" for v in check.segments)


def test_abandoning_a_session_leaves_nothing(identity, repository, tmp_path):
    work, dest = tmp_path / "work", tmp_path / "out.mp4"
    live = LiveRelease(claim=selftest_claim(), identity=identity, work_dir=work, sample_rate=RATE)

    def disconnect_mid_segment() -> None:
        with live:
            live.add_audio(_tone(2.0))
            for index, frame in enumerate(card_frames(seconds=2.0)):
                live.add_frame(frame)
                if index == 37:  # mid-segment, after one segment was cut
                    raise RuntimeError("client gone")

    with pytest.raises(RuntimeError, match="client gone"):
        disconnect_mid_segment()
    assert live.segments == 1
    assert list(work.iterdir()) == [] and not dest.exists()
    assert repository.count() == 0
    with pytest.raises(ReleaseError, match="abandoned"):
        live.add_frame(np.zeros((512, 512, 3), np.uint8))


def test_a_failed_finish_leaves_nothing(identity, repository, tmp_path):
    work, dest = tmp_path / "work", tmp_path / "out.mp4"
    dest.write_bytes(b"already here")
    live = LiveRelease(claim=selftest_claim(), identity=identity, work_dir=work, sample_rate=RATE)
    for frame in card_frames(seconds=0.6):
        live.add_frame(frame)
    with pytest.raises(ReleaseError, match="overwrite"):
        live.finish(repository=repository, dest=dest)
    assert list(work.iterdir()) == [] and dest.read_bytes() == b"already here"
    assert repository.count() == 0


def test_failed_signing_sends_no_segment_and_removes_the_session(identity, tmp_path):
    def refuse(_data: bytes) -> bytes:
        raise RuntimeError("HSM offline")

    broken = dataclasses.replace(
        identity, signer=CallbackSigner(refuse, certificate_chain_pem=identity.signer.certificate_chain_pem)
    )
    work = tmp_path / "work"
    live = LiveRelease(claim=selftest_claim(), identity=broken, work_dir=work, segment_seconds=0.4)

    def stream() -> None:
        with live:
            for frame in card_frames(seconds=1.0):
                live.add_frame(frame)

    with pytest.raises(SigningError):
        stream()
    assert live.segments == 0
    assert list(work.iterdir()) == []


def test_an_empty_session_releases_nothing(identity, repository, tmp_path):
    live = LiveRelease(claim=selftest_claim(), identity=identity, work_dir=tmp_path / "work")
    with pytest.raises(ReleaseError, match="no frames"):
        live.finish(repository=repository, dest=tmp_path / "out.mp4")
    assert list((tmp_path / "work").iterdir()) == [] and repository.count() == 0


def test_bad_frames_and_audio_are_refused(identity, tmp_path):
    with LiveRelease(claim=selftest_claim(), identity=identity, work_dir=tmp_path / "work") as live:
        with pytest.raises(ReleaseError, match="RGB uint8"):
            live.add_frame(np.zeros((512, 512), np.float32))
        live.add_frame(np.zeros((512, 512, 3), np.uint8))
        with pytest.raises(ReleaseError, match="shape"):
            live.add_frame(np.zeros((256, 256, 3), np.uint8))
        with pytest.raises(ReleaseError, match="mono"):
            live.add_audio(np.zeros((2, 100), np.float32))


def test_missing_audio_is_silence_in_the_segment_and_counted(identity, tmp_path):
    with LiveRelease(claim=selftest_claim(), identity=identity, work_dir=tmp_path / "work", sample_rate=RATE,
                     segment_seconds=0.4) as live:
        live.add_audio(_tone(0.1))
        segment = next(s for frame in card_frames(seconds=0.4) if (s := live.add_frame(frame)) is not None)
    assert segment.audio_padded_s == pytest.approx(0.3)



def test_the_module_example_runs():
    import doctest

    import provenance.live

    result = doctest.testmod(provenance.live, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
