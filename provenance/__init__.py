"""Provenance: the signing identity, the frame watermark, C2PA manifests and the one release path.

>>> from provenance import WatermarkCodec
>>> import numpy as np
>>> codec = WatermarkCodec(b"k" * 32)
>>> frame = np.full((256, 256, 3), 120, np.uint8)
>>> reader = codec.reader(); reader.add_frame(codec.embed(frame, 0x0123456789ABCDEF))
>>> hex(reader.result().watermark_id)
'0x123456789abcdef'

Everything a generated video needs before it may leave goes through :func:`release` (a file) or
:class:`LiveRelease` (a live session's signed segments, then its recording through
:func:`release`); nothing else in the code base writes video.
"""

from provenance.c2pa import (
    C2paReport,
    GenerationClaim,
    InputRef,
    SegmentLink,
    SignedManifest,
    manifest_json_from_bytes,
    sign_mp4,
    summarize_manifest_bytes,
    verify_mp4,
)
from provenance.errors import (
    KeyMaterialError,
    ProvenanceError,
    ReleaseError,
    SigningError,
    VerificationError,
    WatermarkError,
)
from provenance.identity import ProvenanceIdentity, init_identity, key_id, load_identity, load_watermark_key
from provenance.ids import generation_id_for, new_watermark_id, watermark_id_for
from provenance.live import (
    LiveRecording,
    LiveRelease,
    LiveSegment,
    LiveVerification,
    SegmentRecord,
    SegmentVerdict,
    segment_chain,
    verify_segments,
)
from provenance.pki import PkiPaths, describe_certificate, init_dev_pki, is_development_certificate, load_pki
from provenance.release import ReleasedVideo, release
from provenance.repository import ManifestRepository, RepositoryError
from provenance.signing import CallbackSigner, ClaimSigner, FileKeySigner
from provenance.watermark import WATERMARK_ALG, WatermarkCodec, WatermarkReader, WatermarkResult

__all__ = [
    "WATERMARK_ALG",
    "C2paReport",
    "CallbackSigner",
    "ClaimSigner",
    "FileKeySigner",
    "GenerationClaim",
    "InputRef",
    "KeyMaterialError",
    "LiveRecording",
    "LiveRelease",
    "LiveSegment",
    "LiveVerification",
    "ManifestRepository",
    "PkiPaths",
    "ProvenanceError",
    "ProvenanceIdentity",
    "ReleaseError",
    "ReleasedVideo",
    "RepositoryError",
    "SegmentLink",
    "SegmentRecord",
    "SegmentVerdict",
    "SignedManifest",
    "SigningError",
    "VerificationError",
    "WatermarkCodec",
    "WatermarkError",
    "WatermarkReader",
    "WatermarkResult",
    "describe_certificate",
    "generation_id_for",
    "init_dev_pki",
    "init_identity",
    "is_development_certificate",
    "key_id",
    "load_identity",
    "load_pki",
    "load_watermark_key",
    "manifest_json_from_bytes",
    "new_watermark_id",
    "release",
    "segment_chain",
    "sign_mp4",
    "summarize_manifest_bytes",
    "verify_mp4",
    "verify_segments",
    "watermark_id_for",
]
