"""The release path: the one function through which a generated video leaves the system.

Frames + audio + the generation's claim → every frame watermarked → H.264/AAC MP4 →
C2PA-signed → read back and checked (manifest trusted, watermark found) → recorded in the
manifest repository → atomically moved to its destination. Any failure raises
:class:`~provenance.errors.ReleaseError` (or a subclass of ``ProvenanceError``) and leaves
nothing at the destination and no repository row: provenance fails closed.

No other module writes generated video: ``media._mp4writer`` is private to this module and to
:mod:`provenance.live` (the live half of the release path, whose recording ends here too), and
``tests/provenance/test_release.py`` checks the whole code base for other writers.

>>> import numpy as np, tempfile; from pathlib import Path
>>> from sqlmodel import SQLModel, create_engine
>>> from provenance import (GenerationClaim, ManifestRepository, generation_id_for, init_identity,
...                         load_identity, new_watermark_id, release)
>>> tmp = Path(tempfile.mkdtemp()); _ = init_identity(tmp / "keys")
>>> engine = create_engine("sqlite://"); SQLModel.metadata.create_all(engine)
>>> wid = new_watermark_id()
>>> claim = GenerationClaim(generation_id=generation_id_for(wid), watermark_id=wid, watermark_alg="",
...     policy_version="doc", consent_ref_sha256="0" * 64, consent_self_attested=True, inputs=[],
...     generator_name="doc", generator_version="0", title="doc")
>>> frames = (np.full((256, 256, 3), 100 + i, np.uint8) for i in range(25))
>>> out = release(frames, fps=25, audio=None, claim=claim, identity=load_identity(keys_dir=tmp / "keys"),
...               repository=ManifestRepository(engine), dest=tmp / "out.mp4")
>>> out.path.exists() and out.frames == 25
True
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from likeness.files import fsync_dir
from media import Audio, MediaError, iter_frames
from media._mp4writer import Mp4Writer  # private to the release path (this module and provenance.live)
from provenance.c2pa import GenerationClaim, sign_mp4, verify_mp4
from provenance.errors import ReleaseError
from provenance.identity import ProvenanceIdentity
from provenance.ids import generation_id_for
from provenance.models import ManifestRecord
from provenance.repository import ManifestRepository
from provenance.watermark import WATERMARK_ALG, WatermarkCodec

logger = logging.getLogger(__name__)

SELF_CHECK_FRAMES = 24


@dataclass(frozen=True)
class ReleasedVideo:
    """What the release path wrote, and how long each stage took."""

    path: Path
    generation_id: str
    watermark_id: int
    manifest_id: str
    sha256: str
    bytes: int
    frames: int
    fps: float
    duration_s: float
    timings_s: dict[str, float] = field(default_factory=dict)


def release(
    frames: Iterable[np.ndarray],
    *,
    fps: int | Fraction,
    audio: Audio | None,
    claim: GenerationClaim,
    identity: ProvenanceIdentity,
    repository: ManifestRepository,
    dest: Path,
    crf: int = 20,
    preset: str = "veryfast",
    strength: float | None = None,
    mode: int | None = None,
) -> ReleasedVideo:
    """Mark, encode, sign, check, record and atomically write one generated video to ``dest``.

    ``frames`` are RGB uint8 arrays of one size (each side ≥ 256 and even); they are consumed
    lazily, so a long generation never has to sit in memory. ``mode`` (e.g. ``0o600``) is set on
    the finished file before it is renamed into place, so it never appears with a looser one.
    """
    if generation_id_for(claim.watermark_id) != claim.generation_id:
        raise ReleaseError("claim is inconsistent: generation id does not match its watermark id")
    claim = dataclasses.replace(claim, watermark_alg=WATERMARK_ALG)
    codec = (
        WatermarkCodec(identity.watermark_key)
        if strength is None
        else WatermarkCodec(identity.watermark_key, strength=strength)
    )
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        raise ReleaseError(f"refusing to overwrite {dest}")
    token = secrets.token_hex(6)
    unsigned = dest.with_name(f".{dest.name}.{token}.unsigned.mp4")
    signed = dest.with_name(f".{dest.name}.{token}.partial.mp4")
    timings: dict[str, float] = {}
    try:
        count = _mark_and_encode(
            frames, unsigned=unsigned, codec=codec, watermark_id=claim.watermark_id,
            fps=fps, audio=audio, crf=crf, preset=preset, timings=timings,
        )
        started = time.perf_counter()
        manifest = sign_mp4(unsigned, dest=signed, claim=claim, signer=identity.signer)
        timings["sign"] = time.perf_counter() - started
        unsigned.unlink()

        started = time.perf_counter()
        _self_check(signed, claim=claim, identity=identity, codec=codec)
        timings["check"] = time.perf_counter() - started

        if mode is not None:
            os.chmod(signed, mode)
        digest, size = _sha256_and_fsync(signed)
        record = ManifestRecord(
            watermark_id=f"{claim.watermark_id:016x}",
            generation_id=claim.generation_id,
            manifest_id=manifest.manifest_id,
            manifest_store=manifest.manifest_bytes,
            output_sha256=digest,
            output_bytes=size,
            frames=count,
            duration_s=count / float(fps),
            watermark_alg=claim.watermark_alg,
            signer_fingerprint=identity.signer_fingerprint,
            policy_version=claim.policy_version,
            consent_ref_sha256=claim.consent_ref_sha256,
            consent_self_attested=claim.consent_self_attested,
        )
        with repository.pending(record):
            if dest.exists():
                raise ReleaseError(f"refusing to overwrite {dest}")
            os.replace(signed, dest)
            fsync_dir(dest.parent)
    except BaseException as exc:
        for leftover in (unsigned, signed):
            leftover.unlink(missing_ok=True)
        error = as_release_error(exc, doing="release", writing=dest)
        if error is exc:
            raise
        raise error from exc
    logger.info(
        "released %s: %d frames, %d bytes, manifest %s", claim.generation_id, count, size, manifest.manifest_id
    )
    return ReleasedVideo(
        path=dest,
        generation_id=claim.generation_id,
        watermark_id=claim.watermark_id,
        manifest_id=manifest.manifest_id,
        sha256=digest,
        bytes=size,
        frames=count,
        fps=float(fps),
        duration_s=count / float(fps),
        timings_s=timings,
    )


def _mark_and_encode(
    frames: Iterable[np.ndarray],
    *,
    unsigned: Path,
    codec: WatermarkCodec,
    watermark_id: int,
    fps: int | Fraction,
    audio: Audio | None,
    crf: int,
    preset: str,
    timings: dict[str, float],
) -> int:
    iterator: Iterator[np.ndarray] = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise ReleaseError("nothing to release: the generator produced no frames")
    shape = check_frame(first, shape=None, index=0)
    mark_s = encode_s = 0.0
    count = 0
    with Mp4Writer(
        unsigned, width=shape[1], height=shape[0], fps=fps, crf=crf, preset=preset, audio=audio
    ) as writer:
        frame: np.ndarray | None = first
        while frame is not None:
            check_frame(frame, shape=shape, index=count)
            t0 = time.perf_counter()
            marked = codec.embed(frame, watermark_id)
            t1 = time.perf_counter()
            writer.write(marked)
            encode_s += time.perf_counter() - t1
            mark_s += t1 - t0
            count += 1
            frame = next(iterator, None)
        t1 = time.perf_counter()
    encode_s += time.perf_counter() - t1  # flushing the encoder and muxing the audio
    timings["mark"] = mark_s
    timings["encode"] = encode_s
    return count


def as_release_error(exc: BaseException, *, doing: str, writing: object) -> BaseException:
    """What a failure while ``doing`` a release becomes: provenance errors as they are, a codec failure or a
    failed write (of ``writing``) a :class:`ReleaseError`, anything else (an interrupt, a bug) unchanged."""
    if isinstance(exc, MediaError):
        return ReleaseError(f"{doing} failed while encoding: {exc}")
    if isinstance(exc, OSError):
        return ReleaseError(f"{doing} failed writing {writing}: {exc.strerror or exc}")
    return exc


def check_frame(frame: np.ndarray, *, shape: tuple[int, ...] | None, index: int) -> tuple[int, ...]:
    """The frame's shape if it is an RGB uint8 frame of even size (and of ``shape`` when given)."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ReleaseError(f"frame {index} is not an RGB uint8 array of shape (H, W, 3)")
    if shape is not None and frame.shape != shape:
        raise ReleaseError(f"frame {index} has shape {frame.shape}, the clip is {shape}")
    if frame.shape[0] % 2 or frame.shape[1] % 2:
        raise ReleaseError(f"frame size {frame.shape[1]}x{frame.shape[0]} must be even for H.264 4:2:0")
    return frame.shape


def _self_check(
    path: Path, *, claim: GenerationClaim, identity: ProvenanceIdentity, codec: WatermarkCodec
) -> None:
    """Fail closed unless the written file verifies as Trusted and its watermark names this generation."""
    report = verify_mp4(path, trust_anchors_pem=identity.trust_anchors_pem)
    if report.state != "trusted" or report.generation_id != claim.generation_id:
        raise ReleaseError(
            f"release self-check failed: C2PA state {report.state} ({', '.join(report.status_codes) or 'no codes'})"
        )
    reader = codec.reader()
    for frame in iter_frames(path, max_frames=SELF_CHECK_FRAMES):
        reader.add_frame(frame)
    found = reader.result()
    if not found.found or found.watermark_id != claim.watermark_id:
        raise ReleaseError("release self-check failed: the watermark could not be read back from the output")


def _sha256_and_fsync(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb+") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        os.fsync(handle.fileno())
    return digest.hexdigest(), size
