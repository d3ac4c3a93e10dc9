"""Live release: a session's frames marked as they are rendered, cut into short signed segments.

The live half of the release path (``provenance.release`` is the other; together they are the
only importers of ``media._mp4writer``). A :class:`LiveRelease` is opened with the session's
claim and the signing identity, fed RGB frames and the matching audio, and returns each
segment as soon as it is complete: a self-contained fragmented MP4 (H.264 + AAC) whose every
frame carries the generation's watermark, C2PA-signed with a manifest that states the
generation claim and where the segment sits in its stream (C2PA 2.x §19.3's
``c2pa.livevideo.segment``: sequence number, stream id, previous manifest id; plus the previous
segment's SHA-256). :meth:`LiveRelease.finish` releases the whole recording through
:func:`provenance.release` (a normal generation: manifest repository, self-check) and returns
the hash chain of the segments for the audit log; :meth:`LiveRelease.abandon` (or leaving the
``with`` block on an exception) removes everything the session wrote. :func:`verify_segments`
checks a sequence of saved segments and names a tampered, reordered, dropped or foreign one.

>>> import numpy as np, tempfile; from pathlib import Path
>>> from sqlmodel import SQLModel, create_engine
>>> from provenance import ManifestRepository, init_identity, load_identity
>>> from provenance.live import LiveRelease, verify_segments
>>> from provenance.samples import selftest_claim
>>> tmp = Path(tempfile.mkdtemp()); _ = init_identity(tmp / "keys")
>>> identity = load_identity(keys_dir=tmp / "keys")
>>> engine = create_engine("sqlite://"); SQLModel.metadata.create_all(engine)
>>> with LiveRelease(claim=selftest_claim(), identity=identity, work_dir=tmp / "live") as live:
...     live.add_audio(np.zeros(16_000, np.float32))
...     segments = [s for i in range(30) if (s := live.add_frame(np.full((256, 256, 3), 100 + i, np.uint8)))]
...     recording = live.finish(repository=ManifestRepository(engine), dest=tmp / "out.mp4")
>>> [s.sequence_number for s in recording.segments], recording.released.frames
([1, 2], 30)
>>> (tmp / "seg1.mp4").write_bytes(segments[0].data) > 0
True
>>> verify_segments([tmp / "seg1.mp4"], trust_anchors_pem=identity.trust_anchors_pem).ok
True
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from media import Audio, iter_frames
from media._mp4writer import Mp4Writer  # private to the release path: live segments are its second use
from provenance._c2pa_manifest import CONTINUITY_MANIFEST_ID
from provenance.c2pa import GenerationClaim, SegmentLink, sign_mp4, verify_mp4
from provenance.errors import ProvenanceError, ReleaseError, VerificationError
from provenance.identity import ProvenanceIdentity
from provenance.ids import generation_id_for
from provenance.release import ReleasedVideo, as_release_error, check_frame, release
from provenance.repository import ManifestRepository
from provenance.watermark import WATERMARK_ALG, WatermarkCodec

logger = logging.getLogger(__name__)

DEFAULT_SEGMENT_SECONDS = 1.0
CHAIN_DOMAIN = b"likeness/live/segment-chain/v1\x00"


@dataclass(frozen=True)
class LiveSegment:
    """One signed segment, ready to send: ``data`` is the whole file (init + fragment + manifest)."""

    sequence_number: int
    stream_id: str
    generation_id: str
    manifest_id: str
    previous_manifest_id: str | None
    sha256: str
    data: bytes = field(repr=False)
    first_frame: int
    frames: int
    fps: float
    audio_padded_s: float
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def start_s(self) -> float:
        return self.first_frame / self.fps

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


@dataclass(frozen=True)
class SegmentRecord:
    """What the audit log keeps of a segment: its place, manifest and hash."""

    sequence_number: int
    manifest_id: str
    sha256: str
    first_frame: int
    frames: int


@dataclass(frozen=True)
class LiveRecording:
    """The result of :meth:`LiveRelease.finish`: the released recording and the segments' hash chain."""

    released: ReleasedVideo
    stream_id: str
    segments: list[SegmentRecord]
    chain: list[str]

    @property
    def chain_head(self) -> str:
        return self.chain[-1]


def segment_chain(stream_id: str, sha256s: Sequence[str]) -> list[str]:
    """The running hash chain over the segments' SHA-256s: ``h0 = SHA-256(domain ‖ stream id)``,
    ``hᵢ = SHA-256(hᵢ₋₁ ‖ sha256ᵢ)``; returns ``[h0, h1, …]`` as hex (the last is the head)."""
    head = hashlib.sha256(CHAIN_DOMAIN + stream_id.encode("utf-8")).digest()
    chain = [head.hex()]
    for digest in sha256s:
        head = hashlib.sha256(head + bytes.fromhex(digest)).digest()
        chain.append(head.hex())
    return chain


class LiveRelease:
    """One live session's release: mark every frame, cut, encode and sign segments, release at the end.

    Use it as a context manager: leaving the block without :meth:`finish` (on an exception or
    not) abandons the session and removes its files. Not thread-safe: one producer feeds it.
    ``segment_seconds`` of frames (rounded to whole frames) make a segment (the first one only
    ``first_segment_frames``, when given, so the first frame leaves sooner); audio is mono float32
    at ``sample_rate``, fed as it arrives. A segment's audio not yet fed when the segment is cut
    is silence in that segment (counted in :attr:`LiveSegment.audio_padded_s`); the released
    recording has all the audio fed.
    """

    def __init__(
        self,
        *,
        claim: GenerationClaim,
        identity: ProvenanceIdentity,
        work_dir: Path,
        fps: int = 25,
        sample_rate: int = 16_000,
        segment_seconds: float = DEFAULT_SEGMENT_SECONDS,
        stream_id: str | None = None,
        first_segment_frames: int | None = None,
        crf: int = 20,
        preset: str = "veryfast",
    ) -> None:
        if generation_id_for(claim.watermark_id) != claim.generation_id:
            raise ReleaseError("claim is inconsistent: generation id does not match its watermark id")
        if fps <= 0 or sample_rate <= 0:
            raise ReleaseError("fps and sample rate must be positive")
        self.segment_frames = max(1, round(segment_seconds * fps))
        # a short first segment puts the first frame on screen sooner (the look-ahead plus one frame's work)
        self._cut_at = max(1, min(first_segment_frames or self.segment_frames, self.segment_frames))
        self.claim = dataclasses.replace(claim, watermark_alg=WATERMARK_ALG)
        self.identity = identity
        self.fps = fps
        self.sample_rate = sample_rate
        self.stream_id = stream_id or f"urn:uuid:{uuid.uuid4()}"
        self._crf, self._preset = crf, preset
        self._codec = WatermarkCodec(identity.watermark_key)
        work_dir = Path(work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        self._dir = Path(tempfile.mkdtemp(prefix=".live-", dir=work_dir))
        self._pending: list[np.ndarray] = []
        self._pending_mark_s = 0.0
        self._shape: tuple[int, ...] | None = None
        self._audio: list[np.ndarray] = []
        self._audio_samples = 0
        self._frames = 0
        self._segments: list[tuple[LiveSegment, Path]] = []
        self._state = "open"  # open → finished | abandoned | failed

    def __repr__(self) -> str:
        return (f"LiveRelease({self.claim.generation_id}, stream {self.stream_id}, {self._frames} frames, "
                f"{len(self._segments)} segments, {self._state})")

    def __enter__(self) -> LiveRelease:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._state == "open" or self._state == "failed":
            self.abandon()

    @property
    def frames(self) -> int:
        """Frames marked so far (in segments and pending)."""
        return self._frames

    @property
    def segments(self) -> int:
        return len(self._segments)

    # --- feeding ---------------------------------------------------------------------------------

    def add_audio(self, samples: np.ndarray) -> None:
        """Append mono audio (float32 in [-1, 1], 1-D or shape (1, n)) at the session's sample rate."""
        self._require_open()
        array = np.asarray(samples)
        if array.ndim == 2 and array.shape[0] == 1:
            array = array[0]
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.floating):
            raise ReleaseError("live audio is mono float samples: a 1-D array (or shape (1, n))")
        if array.size:
            self._audio.append(np.clip(array.astype(np.float32), -1.0, 1.0))
            self._audio_samples += array.size

    def add_frame(self, frame: np.ndarray) -> LiveSegment | None:
        """Mark one rendered RGB uint8 frame now; return the segment it completes, if any."""
        self._require_open()
        shape = check_frame(frame, shape=self._shape, index=self._frames)
        self._shape = shape
        started = time.perf_counter()
        try:
            marked = self._codec.embed(frame, self.claim.watermark_id)
        except ProvenanceError:
            self._state = "failed"
            raise
        self._pending_mark_s += time.perf_counter() - started
        self._pending.append(marked)
        self._frames += 1
        if len(self._pending) >= self._cut_at:
            self._cut_at = self.segment_frames
            return self._cut()
        return None

    def flush(self) -> LiveSegment | None:
        """Cut the frames pending into a (shorter) segment now, e.g. before a pause; None if none."""
        self._require_open()
        return self._cut() if self._pending else None

    # --- ending ----------------------------------------------------------------------------------

    def finish(self, *, repository: ManifestRepository, dest: Path, mode: int | None = None) -> LiveRecording:
        """Cut the last segment, release the whole recording to ``dest`` and close the session.

        The recording's frames are the segments' frames (decoded, marked again with the same id,
        re-encoded) with all the audio fed, released by :func:`provenance.release`. On failure
        nothing is at ``dest``, the session is abandoned and its files are removed.
        """
        self._require_open()
        try:
            if self._pending:
                self._cut()
            if not self._segments:
                raise ReleaseError("nothing to release: the live session produced no frames")
            audio = self._recording_audio()
            released = release(
                self._recorded_frames(), fps=self.fps, audio=audio, claim=self.claim, identity=self.identity,
                repository=repository, dest=dest, crf=self._crf, preset=self._preset, mode=mode,
            )
        except BaseException:
            self.abandon()
            raise
        records = [
            SegmentRecord(sequence_number=s.sequence_number, manifest_id=s.manifest_id, sha256=s.sha256,
                          first_frame=s.first_frame, frames=s.frames)
            for s, _ in self._segments
        ]
        chain = segment_chain(self.stream_id, [r.sha256 for r in records])
        self._state = "finished"
        self._remove_files()
        logger.info("live session %s released %s: %d segments, chain head %s", self.stream_id,
                    released.generation_id, len(records), chain[-1])
        return LiveRecording(released=released, stream_id=self.stream_id, segments=records, chain=chain)

    def abandon(self) -> None:
        """End the session without a recording: every file it wrote is removed. Idempotent."""
        if self._state in ("finished", "abandoned"):
            return
        self._state = "abandoned"
        self._pending.clear()
        self._audio.clear()
        self._remove_files()
        logger.info("live session %s abandoned after %d frames", self.stream_id, self._frames)

    # --- internals -------------------------------------------------------------------------------

    def _require_open(self) -> None:
        if self._state != "open":
            raise ReleaseError(f"the live session is {self._state}")

    def _remove_files(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    def _cut(self) -> LiveSegment:
        frames, self._pending = self._pending, []
        mark_s, self._pending_mark_s = self._pending_mark_s, 0.0
        first_frame = self._frames - len(frames)
        sequence = len(self._segments) + 1
        previous = self._segments[-1][0] if self._segments else None
        link = SegmentLink(
            stream_id=self.stream_id, sequence_number=sequence,
            previous_manifest_id=previous.manifest_id if previous else None,
            previous_sha256=previous.sha256 if previous else None,
            first_frame=first_frame, frames=len(frames), fps=float(self.fps),
        )
        audio, padded = self._segment_audio(first_frame, len(frames))
        unsigned = self._dir / f".seg-{sequence:06d}.unsigned.mp4"
        signed = self._dir / f"seg-{sequence:06d}.mp4"
        timings = {"mark": mark_s}
        try:
            started = time.perf_counter()
            height, width = frames[0].shape[:2]
            with Mp4Writer(unsigned, width=width, height=height, fps=self.fps, crf=self._crf,
                           preset=self._preset, audio=audio, fragmented=True) as writer:
                for frame in frames:
                    writer.write(frame)
            timings["encode"] = time.perf_counter() - started
            started = time.perf_counter()
            manifest = sign_mp4(unsigned, dest=signed, claim=self.claim, signer=self.identity.signer, segment=link)
            timings["sign"] = time.perf_counter() - started
            unsigned.unlink()
            started = time.perf_counter()
            self._check_segment(signed, link=link)
            timings["check"] = time.perf_counter() - started
            data = signed.read_bytes()
        except BaseException as exc:
            self._state = "failed"
            unsigned.unlink(missing_ok=True)
            signed.unlink(missing_ok=True)
            error = as_release_error(exc, doing=f"live segment {sequence}", writing=signed.name)
            if error is exc:
                raise
            raise error from exc
        segment = LiveSegment(
            sequence_number=sequence, stream_id=self.stream_id, generation_id=self.claim.generation_id,
            manifest_id=manifest.manifest_id, previous_manifest_id=link.previous_manifest_id,
            sha256=hashlib.sha256(data).hexdigest(), data=data, first_frame=first_frame, frames=len(frames),
            fps=float(self.fps), audio_padded_s=padded / self.sample_rate, timings_s=timings,
        )
        self._segments.append((segment, signed))
        return segment

    def _segment_audio(self, first_frame: int, frames: int) -> tuple[Audio, int]:
        """The fed audio for frames [first, first + frames), and how many samples of it are missing."""
        start = round(first_frame * self.sample_rate / self.fps)
        stop = round((first_frame + frames) * self.sample_rate / self.fps)
        samples = self._audio_range(start, stop)
        return Audio(samples=samples[None, :], sample_rate=self.sample_rate), (stop - start) - samples.size

    def _audio_range(self, start: int, stop: int) -> np.ndarray:
        parts: list[np.ndarray] = []
        offset = 0
        for chunk in self._audio:
            lo, hi = max(start, offset), min(stop, offset + chunk.size)
            if lo < hi:
                parts.append(chunk[lo - offset:hi - offset])
            offset += chunk.size
            if offset >= stop:
                break
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def _recording_audio(self) -> Audio | None:
        if not self._audio_samples:
            return None
        return Audio(samples=np.concatenate(self._audio)[None, :], sample_rate=self.sample_rate)

    def _recorded_frames(self) -> Iterator[np.ndarray]:
        """The segments' frames in order, decoded; fails the release if any frame is missing."""
        for segment, path in self._segments:
            count = 0
            for frame in iter_frames(path):
                count += 1
                yield frame
            if count != segment.frames:
                raise ReleaseError(
                    f"segment {segment.sequence_number} decoded to {count} frames, not {segment.frames}"
                )

    def _check_segment(self, path: Path, *, link: SegmentLink) -> None:
        """Fail closed unless the segment reads trusted, as this link, with the mark in its first frame."""
        report = verify_mp4(path, trust_anchors_pem=self.identity.trust_anchors_pem)
        live = report.live_segment or {}
        if (report.state != "trusted" or report.generation_id != self.claim.generation_id
                or live.get("sequence_number") != link.sequence_number or live.get("stream_id") != link.stream_id):
            raise ReleaseError(
                f"live segment {link.sequence_number} self-check failed: C2PA state {report.state} "
                f"({', '.join(report.status_codes) or 'no codes'})"
            )
        reader = self._codec.reader()
        for frame in iter_frames(path, max_frames=1):
            reader.add_frame(frame)
        found = reader.result()
        if not found.found or found.watermark_id != self.claim.watermark_id:
            raise ReleaseError(f"live segment {link.sequence_number} self-check failed: no watermark read back")


# --- verification ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentVerdict:
    """One segment as :func:`verify_segments` found it; ``problems`` is empty when it fits the chain."""

    position: int
    file: str
    sha256: str | None
    state: str
    sequence_number: int | None
    manifest_id: str | None
    generation_id: str | None
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class LiveVerification:
    """The verdict on a sequence of saved segments of one live session."""

    ok: bool
    stream_id: str | None
    generation_id: str | None
    segments: list[SegmentVerdict]
    problems: list[str]
    chain: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def verify_segments(
    segments: Sequence[Path],
    *,
    trust_anchors_pem: bytes | None,
    stream_id: str | None = None,
    generation_id: str | None = None,
    chain_head: str | None = None,
) -> LiveVerification:
    """Check segments given in play order: each trusted, of one session, in sequence, chained.

    The session is the one named by ``stream_id``/``generation_id`` when given, else by the first
    trusted segment. Each problem names the segment (position and file) and what is wrong:
    altered after signing (``invalid``), unsigned or untrusted, data hidden where no signature
    reaches (a ``free``/``skip`` payload, non-zero signature padding), from another session
    (``foreign``), out of order, a duplicate, missing before it (``dropped``), or a previous
    manifest id / hash that does not match the segment before it. Segments missing at the end
    cannot be seen from the segments alone: pass the ``chain_head`` recorded at close.
    """
    if not segments:
        return LiveVerification(ok=False, stream_id=stream_id, generation_id=generation_id, segments=[],
                                problems=["no segments to verify"], chain=[])
    reports = [_read_segment(Path(path), trust_anchors_pem=trust_anchors_pem) for path in segments]
    reference = next((r for r in reports if r["state"] == "trusted" and r["live"] is not None), None)
    stream_id = stream_id or (reference["live"]["stream_id"] if reference else None)
    generation_id = generation_id or (reference["generation_id"] if reference else None)
    claimed = [r["live"]["sequence_number"] for r in reports
               if r["live"] is not None and isinstance(r["live"].get("sequence_number"), int)
               and r["live"].get("stream_id") == stream_id and r["generation_id"] == generation_id]
    present = set(claimed)
    seen: set[int] = set()
    expected = 1
    previous: dict[str, Any] | None = None  # the last segment in sequence, if its links can be checked
    verdicts: list[SegmentVerdict] = []
    for position, report in enumerate(reports):
        problems = _segment_problems(report, stream_id=stream_id, generation_id=generation_id)
        live = report["live"]
        sequence = live.get("sequence_number") if live else None
        if problems:
            # Named already (altered, unsigned, foreign…). An altered segment of ours that sits in its
            # place keeps the count going, but the next one's links cannot be checked against it.
            same_stream = live is not None and live.get("stream_id") == stream_id
            if same_stream and sequence == expected and not problems[0].startswith("foreign"):
                seen.add(expected)
                expected += 1
                previous = None
        elif isinstance(sequence, int):
            if sequence in seen:
                problems.append(f"duplicate of segment {sequence}, which came earlier")
            elif sequence > expected:
                missing = range(expected, sequence)
                later = [n for n in missing if n in present and n not in seen]
                lost = [n for n in missing if n not in present]
                if later:
                    problems.append(f"out of order: segment {sequence} comes before segment(s) {_numbers(later)}")
                if lost:
                    problems.append(f"segment(s) {_numbers(lost)} dropped before this one")
            elif sequence < expected:
                problems.append(f"out of order: segment {sequence} comes after segment {expected - 1}")
            elif previous is not None or sequence == 1:
                problems += _link_problems(report, previous)
            if sequence not in seen:
                seen.add(sequence)
                if sequence >= expected:
                    expected = sequence + 1
                    previous = report
        verdicts.append(SegmentVerdict(
            position=position, file=report["file"], sha256=report["sha256"], state=report["state"],
            sequence_number=sequence, manifest_id=report["manifest_id"],
            generation_id=report["generation_id"], problems=problems,
        ))
    chain = segment_chain(stream_id, [r["sha256"] for r in reports]) if stream_id else []
    overall = [f"segment {v.position + 1} ({v.file}): {p}" for v in verdicts for p in v.problems]
    if chain_head is not None and (not chain or chain[-1] != chain_head):
        overall.append("the segments' hash chain does not end at the chain head recorded for the session "
                       "(segments missing at the end, or a different set)")
    return LiveVerification(ok=not overall, stream_id=stream_id, generation_id=generation_id,
                            segments=verdicts, problems=overall, chain=chain)


def _read_segment(path: Path, *, trust_anchors_pem: bytes | None) -> dict[str, Any]:
    empty: dict[str, Any] = {"live": None, "manifest_id": None, "generation_id": None, "status_codes": []}
    try:
        data = path.read_bytes()
    except OSError as exc:
        return {**empty, "file": path.name, "sha256": None, "state": "unreadable", "reason": exc.strerror or str(exc)}
    base = {"file": path.name, "sha256": hashlib.sha256(data).hexdigest()}
    try:
        report = verify_mp4(path, trust_anchors_pem=trust_anchors_pem)
    except VerificationError as exc:
        return {**empty, **base, "state": "unreadable", "reason": str(exc)}
    return {**base, "state": report.state, "reason": report.reason, "live": report.live_segment,
            "manifest_id": report.manifest_id, "generation_id": report.generation_id,
            "status_codes": report.status_codes, "hidden": report.hidden_boxes}


def _segment_problems(report: dict[str, Any], *, stream_id: str | None, generation_id: str | None) -> list[str]:
    """What is wrong with the segment on its own: its signature, or the session it belongs to."""
    state = report["state"]
    if state == "invalid":
        codes = ", ".join(report["status_codes"]) or "no codes"
        return [f"invalid: altered after signing or malformed ({codes})"]
    if state == "absent":
        return ["unsigned: no C2PA manifest"]
    if state == "unreadable":
        return [f"unreadable: {report['reason']}"]
    if state != "trusted":
        return [f"{state}: not signed by a trusted certificate"]
    live = report["live"]
    if live is None or not isinstance(live.get("sequence_number"), int):
        return ["not a live segment: its manifest has no c2pa.livevideo.segment assertion"]
    problems: list[str] = []
    for box in report.get("hidden") or []:
        problems.append(f"data outside the signed hash: {box['type']} ({box['size']} bytes)")
    if live["stream_id"] != stream_id or report["generation_id"] != generation_id:
        problems.append(
            f"foreign: from stream {live['stream_id']} ({report['generation_id']}), "
            f"not {stream_id} ({generation_id})"
        )
    if live.get("link_stream_id") != live["stream_id"] or live.get("link_sequence_number") != live["sequence_number"]:
        problems.append("its two live assertions disagree on the stream or the sequence number")
    if live.get("continuity_method") != CONTINUITY_MANIFEST_ID:
        problems.append(f"unknown continuity method {live.get('continuity_method')!r}")
    return problems


def _link_problems(report: dict[str, Any], previous: dict[str, Any] | None) -> list[str]:
    """The segment's links to the one before it: previous manifest id, previous hash, timeline."""
    live = report["live"]
    if previous is None:
        if live["previous_manifest_id"] is not None or live["previous_segment_sha256"] is not None:
            return ["the first segment names a previous segment"]
        return [] if live.get("first_frame") == 0 else ["the first segment does not start at frame 0"]
    problems: list[str] = []
    before = previous["live"]
    if live["previous_manifest_id"] != previous["manifest_id"]:
        problems.append(f"previous manifest id {live['previous_manifest_id']} is not that of segment "
                        f"{before['sequence_number']} ({previous['manifest_id']})")
    if live["previous_segment_sha256"] != previous["sha256"]:
        problems.append(f"previous segment hash does not match segment {before['sequence_number']} as given")
    if (isinstance(before.get("first_frame"), int) and isinstance(before.get("frames"), int)
            and live.get("first_frame") != before["first_frame"] + before["frames"]):
        problems.append(f"starts at frame {live.get('first_frame')}, not where segment "
                        f"{before['sequence_number']} ends ({before['first_frame'] + before['frames']})")
    return problems


def _numbers(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers)
