"""``analyse()``: everything behind ``detect clip.mp4``.

C2PA first (state, signer, generation id, failure codes), then one pass over the clip's frames
that feeds both the watermark reader (at most ``max_frames``, evenly spread) and the companion
classifier (about a window of consecutive frames a second, :mod:`detector.classifier`), then the
manifest recovered from the repository by watermark id, then the verdict (:func:`decide`).

>>> from detector import analyse                     # doctest: +SKIP
>>> report = analyse(Path("clip.mp4"), trust_anchors_pem=root, watermark_key=key, repository=None)
>>> report.verdict, report.classifier.verdict        # doctest: +SKIP
('generated-by-likeness', 'likely-synthetic')

``classifier="default"`` loads the shipped model once per process (hash-checked); pass a loaded
:class:`~detector.classifier.Classifier` (another model) or None (no classifier: ``unavailable``).
A model that fails its hash check is reported as ``unavailable`` with the reason, never used.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from detector.classifier import Classifier, ClassifierRun
from detector.errors import DetectorError, ModelError
from detector.report import (
    CLASSIFIER_UNAVAILABLE,
    ClassifierEvidence,
    DetectionReport,
    ManifestLookup,
    WatermarkEvidence,
    decide,
)
from media import Limits, MediaError, MediaType, Sandbox, file_sha256, sniff_file
from provenance import (
    ManifestRepository,
    RepositoryError,
    VerificationError,
    WatermarkCodec,
    generation_id_for,
    manifest_json_from_bytes,
    verify_mp4,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_FRAMES = 250
#: Frames larger than this a side are analysed scaled down (decoded in the sandbox, scaled while
#: converting to RGB): the watermark reader rescales to the release size (512) anyway, and faces
#: stay well above the classifier's 128² crops. Clips up to 1080p are analysed as they are.
DECODE_MAX_SIDE = 1920
#: Clips are decoded in a confined child process (media.Sandbox): a decoder crash, a memory bomb
#: or a hang is a refusal (exit 2), never the end of ``detect`` or of the server calling it.
SANDBOX = Sandbox.for_video()
BMFF_TYPES = {MediaType.MP4, MediaType.M4A, MediaType.MOV}

Progress = Callable[[int, int], None]


def analyse(
    path: Path,
    *,
    trust_anchors_pem: bytes | None,
    watermark_key: bytes | None,
    repository: ManifestRepository | None,
    max_frames: int = DEFAULT_MAX_FRAMES,
    limits: Limits | None = None,
    progress: Progress | None = None,
    classifier: Classifier | Literal["default"] | None = "default",
) -> DetectionReport:
    """Analyse one clip. Raises :class:`DetectorError` when the file cannot be read as a video.

    ``progress(done, total)`` is called as frames are decoded (for a progress bar)."""
    started = time.perf_counter()
    path = Path(path)
    try:
        kind = sniff_file(path)
        info = SANDBOX.probe_video(path, limits=limits or Limits.video())
    except MediaError as exc:
        raise DetectorError(f"cannot analyse {path.name}: {exc}") from exc
    except OSError as exc:
        raise DetectorError(f"cannot read {path}: {exc.strerror or exc}") from exc
    notes: list[str] = []

    c2pa = _c2pa_section(path, kind=kind, trust_anchors_pem=trust_anchors_pem, notes=notes)
    model, unavailable = _classifier(classifier, notes=notes)
    run = model.start(frame_count=info.frame_count, fps=info.fps) if model is not None else None
    watermark, analysed_size = _frame_pass(
        path, info_frames=info.frame_count, watermark_key=watermark_key,
        max_frames=max_frames, progress=progress, run=run,
    )
    if run is not None:
        evidence = run.finish(duration_s=info.duration_s)
    else:
        evidence = unavailable
    lookup = _lookup(watermark=watermark, c2pa_generation_id=c2pa.get("generation_id"), repository=repository)
    watermark = _confirm(watermark, lookup=lookup, c2pa=c2pa)
    verdict, summary = decide(
        c2pa_state=c2pa["state"], c2pa_generation_id=c2pa.get("generation_id"), watermark=watermark,
        classifier=evidence,
    )
    if watermark.found and c2pa["state"] == "absent" and lookup.found:
        summary += "; its manifest was recovered from the repository"
    return DetectionReport(
        file=str(path),
        sha256=file_sha256(path),
        video={
            "width": info.width, "height": info.height, "fps": info.fps, "frames": info.frame_count,
            "duration_s": info.duration_s, "video_codec": info.video_codec, "audio_codec": info.audio_codec,
            "container": kind.value,
            "analysed_size": analysed_size,
        },
        c2pa=c2pa,
        watermark=watermark,
        manifest_lookup=lookup,
        classifier=evidence,
        verdict=verdict,
        summary=summary,
        notes=notes,
        elapsed_s=round(time.perf_counter() - started, 3),
    )


def _c2pa_section(path: Path, *, kind: MediaType, trust_anchors_pem: bytes | None, notes: list[str]) -> dict[str, Any]:
    if kind not in BMFF_TYPES:
        return {"state": "absent", "generation_id": None, "reason": f"{kind.value} files carry no C2PA manifest here"}
    if trust_anchors_pem is None:
        notes.append("no trust anchors configured: a manifest can at best read 'untrusted'")
    try:
        report = verify_mp4(path, trust_anchors_pem=trust_anchors_pem)
    except VerificationError as exc:
        return {"state": "invalid", "generation_id": None, "status_codes": [], "reason": str(exc)}
    section = report.to_dict()
    if report.hidden_boxes:
        notes.append(
            "top-level boxes outside the signed hash carry data: "
            + ", ".join(f"{box['type']} ({box['size']} bytes)" for box in report.hidden_boxes)
        )
    return section


@lru_cache(maxsize=1)
def default_classifier() -> Classifier:
    """The shipped companion classifier, loaded (and hash-checked) once per process."""
    return Classifier.load()


def _classifier(
    classifier: Classifier | Literal["default"] | None, *, notes: list[str]
) -> tuple[Classifier | None, ClassifierEvidence]:
    if classifier is None:
        return None, ClassifierEvidence(score=None, verdict=CLASSIFIER_UNAVAILABLE,
                                        reason="the companion classifier was not requested")
    if isinstance(classifier, Classifier):
        return classifier, ClassifierEvidence(score=None, verdict=CLASSIFIER_UNAVAILABLE)
    try:
        return default_classifier(), ClassifierEvidence(score=None, verdict=CLASSIFIER_UNAVAILABLE)
    except ModelError as exc:
        notes.append(f"companion classifier unavailable: {exc}")
        return None, ClassifierEvidence(score=None, verdict=CLASSIFIER_UNAVAILABLE, reason=str(exc))


def _frame_pass(
    path: Path,
    *,
    info_frames: int,
    watermark_key: bytes | None,
    max_frames: int,
    progress: Progress | None,
    run: ClassifierRun | None,
) -> tuple[WatermarkEvidence, list[int] | None]:
    """One decode of the clip: every ``every``-th frame to the watermark reader, the windows to ``run``.

    Also returns the [width, height] the frames were analysed at (None when none was decoded)."""
    reader = WatermarkCodec(watermark_key).reader() if watermark_key is not None else None
    every = max(1, math.ceil(info_frames / max_frames)) if info_frames else 1
    wm_total = min(max_frames, math.ceil(info_frames / every)) if info_frames else max_frames
    if reader is None and run is None:
        return _no_key(), None
    if run is not None:  # consecutive frames are needed: decode all, stop after the last one needed
        last = max([*run.needed, (wm_total - 1) * every if reader is not None else -1])
        frames = SANDBOX.iter_frames(path, every=1, max_frames=last + 1, max_side=DECODE_MAX_SIDE)
        stride, total = 1, last + 1
    else:
        frames = SANDBOX.iter_frames(path, every=every, max_frames=max_frames, max_side=DECODE_MAX_SIDE)
        stride, total = every, wm_total
    read = decoded = 0
    size: list[int] | None = None
    try:
        for position, frame in enumerate(frames):
            index = position * stride
            decoded += 1
            if size is None:
                size = [int(frame.shape[1]), int(frame.shape[0])]
            if reader is not None and index % every == 0 and read < max_frames:
                reader.add_frame(frame)
                read += 1
            if run is not None:
                run.add(index, frame)
            if progress is not None:
                progress(decoded, total)
    except MediaError as exc:
        if decoded == 0:
            if run is not None:
                run.close()
            raise DetectorError(f"cannot decode the frames of {path.name}: {exc}") from exc
        logger.warning("frames after %d could not be decoded: %s", decoded, exc)
    if reader is None:
        return _no_key(), size
    result = reader.result()
    found_id = result.watermark_id if result.found else None
    return WatermarkEvidence(
        checked=True,
        found=result.found,
        code_check_passed=result.found,
        strength=result.step,
        scale=result.scale,
        generation_id=generation_id_for(found_id) if found_id is not None else None,
        watermark_id=f"{found_id:016x}" if found_id is not None else None,
        bit_agreement=round(result.bit_agreement, 4),
        false_match_probability=result.false_match_probability,
        frames_read=result.frames_read,
        hypotheses=result.hypotheses,
        reason=None if result.found else "no payload passed the code check",
    ), size


def _no_key() -> WatermarkEvidence:
    return WatermarkEvidence(
        checked=False, found=False, generation_id=None, watermark_id=None, bit_agreement=None,
        false_match_probability=None, frames_read=0, hypotheses=0,
        reason="no watermark key configured (LIKENESS_WATERMARK_KEY_FILE)",
    )


def _confirm(watermark: WatermarkEvidence, *, lookup: ManifestLookup, c2pa: dict[str, Any]) -> WatermarkEvidence:
    """A payload that passed the code check counts only if a reachable repository knows its id,
    or if the clip's own trusted manifest names the same generation.

    Every release is recorded before its file exists, so an id the repository does not know is a
    false match (probability ``false_match_probability``) or another platform's database. The
    exception is a live segment saved while its session is still open: its generation is recorded
    when the session closes, and until then its trusted manifest (our signature) vouches for it.
    """
    if not watermark.code_check_passed:
        return watermark
    if lookup.repository != "reachable":
        return dataclasses.replace(watermark, known=None)
    if lookup.found:
        return dataclasses.replace(watermark, known=True)
    if c2pa.get("state") == "trusted" and c2pa.get("generation_id") == watermark.generation_id:
        return dataclasses.replace(
            watermark, known=None,
            reason=f"{watermark.generation_id} is not (yet) in the manifest repository, but the clip's trusted "
                   "manifest names the same generation (a live segment recorded when its session closes)",
        )
    return dataclasses.replace(
        watermark, found=False, known=False,
        reason=f"the payload passed its code check but {watermark.generation_id} is not in the manifest repository",
    )


def _lookup(
    *, watermark: WatermarkEvidence, c2pa_generation_id: str | None, repository: ManifestRepository | None
) -> ManifestLookup:
    if repository is None:
        return ManifestLookup(repository="not-configured", found=False)
    generation_id = watermark.generation_id or c2pa_generation_id
    if generation_id is None:
        return ManifestLookup(repository="reachable", found=False, reason="no generation id to look up")
    try:
        record = repository.by_generation_id(generation_id)
    except RepositoryError as exc:
        return ManifestLookup(repository="unreachable", found=False, reason=str(exc))
    if record is None:
        return ManifestLookup(repository="reachable", found=False, reason=f"{generation_id} is not in the repository")
    store = manifest_json_from_bytes(record.manifest_store)
    active = store.get("manifests", {}).get(store.get("active_manifest"), {})
    agent = (active.get("claim_generator_info") or [{}])[0]
    return ManifestLookup(
        repository="reachable",
        found=True,
        record={
            "generation_id": record.generation_id,
            "manifest_id": record.manifest_id,
            "output_sha256": record.output_sha256,
            "created_at": record.created_at.isoformat(),
            "policy_version": record.policy_version,
            "consent_self_attested": record.consent_self_attested,
            "generator": {"name": agent.get("name"), "version": agent.get("version")} if agent.get("name") else None,
            "manifest": store,
        },
    )
