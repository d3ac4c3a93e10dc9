"""C2PA manifests for generated MP4s: sign with our claim, verify against our trust anchors.

>>> from provenance.c2pa import sign_mp4, verify_mp4
>>> signed = sign_mp4(Path("unsigned.mp4"), dest=Path("out.mp4"), claim=claim, signer=signer)  # doctest: +SKIP
>>> verify_mp4(Path("out.mp4"), trust_anchors_pem=root_pem).state                       # doctest: +SKIP
'trusted'

States: ``trusted`` (valid and chained to the given anchors), ``untrusted`` (valid signature,
unknown signer — c2pa-python's "Valid"), ``invalid`` (altered after signing, expired without a
time-stamp, malformed), ``absent`` (no manifest: never signed, or stripped by a remux).
The other report fields are what the manifest *claims*; only ``trusted`` makes them ours.

Input media are declared by hash only (never embedded), and the watermark is bound to the
manifest by a ``c2pa.soft-binding`` assertion; see :mod:`provenance._c2pa_manifest`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import c2pa

from provenance import _c2pa_manifest as definition
from provenance._bmff import BmffError, Layout, read_layout
from provenance._c2pa_jumbf import MAX_MANIFEST_BYTES, signature_padding
from provenance._c2pa_report import codes, manifest_fields, map_state
from provenance.errors import SigningError, VerificationError
from provenance.ids import generation_id_for
from provenance.signing import ClaimSigner

logger = logging.getLogger(__name__)

MP4 = "video/mp4"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_GENERATION_ID = re.compile(r"^gen_[0-9a-f]{16}$")

State = Literal["trusted", "untrusted", "invalid", "absent"]


@dataclass(frozen=True)
class InputRef:
    """An input medium, identified by its SHA-256 only (its bytes never enter the manifest)."""

    role: Literal["portrait", "audio"]
    sha256: str
    mime: str


@dataclass(frozen=True)
class GenerationClaim:
    """What the manifest of one generated video states."""

    generation_id: str
    watermark_id: int
    watermark_alg: str
    policy_version: str
    consent_ref_sha256: str
    consent_self_attested: bool
    inputs: list[InputRef]
    generator_name: str
    generator_version: str
    title: str


@dataclass(frozen=True)
class SegmentLink:
    """Where one live segment sits in its stream (C2PA 2.x §19.3, plus the previous segment's hash).

    ``sequence_number`` counts from 1; the first segment has no previous manifest or hash.
    ``first_frame`` and ``frames`` place the segment in the session's timeline at ``fps``.
    """

    stream_id: str
    sequence_number: int
    previous_manifest_id: str | None
    previous_sha256: str | None
    first_frame: int
    frames: int
    fps: float


@dataclass(frozen=True)
class SignedManifest:
    """The result of :func:`sign_mp4`."""

    manifest_id: str
    manifest_bytes: bytes
    path: Path
    size: int
    elapsed_s: float

    def __repr__(self) -> str:
        return f"SignedManifest(manifest_id={self.manifest_id!r}, {len(self.manifest_bytes)} manifest bytes)"


@dataclass(frozen=True)
class C2paReport:
    """The verdict on one file's C2PA manifest, and what the manifest claims.

    ``hidden_boxes`` lists bytes that carry data although no signature or hash covers them, so
    they can change without changing ``state``: top-level ``free``/``skip`` boxes with a payload,
    and a non-zero ``c2pa.signature/pad`` (the unsigned COSE padding). ``unknown_boxes`` lists
    top-level boxes of types MP4 does not define (these *are* hashed). ``generator`` is the claim
    generator's ``name`` and ``version`` (ours: ``likeness-generator-<backend>``, the backend that
    made the clip); ``claim_generator`` the same as one string.
    """

    state: State
    status_codes: list[str] = field(default_factory=list)
    success_codes: list[str] = field(default_factory=list)
    informational_codes: list[str] = field(default_factory=list)
    reason: str | None = None
    trust_anchors_configured: bool = False
    manifest_id: str | None = None
    title: str | None = None
    claim_generator: str | None = None
    generator: dict[str, str | None] | None = None
    signer: str | None = None
    signer_issuer: str | None = None
    signed_at: str | None = None
    digital_source_type: str | None = None
    generation_id: str | None = None
    watermark_id: str | None = None
    watermark_alg: str | None = None
    policy_version: str | None = None
    consent_ref_sha256: str | None = None
    consent_self_attested: bool | None = None
    has_soft_binding: bool = False
    live_segment: dict[str, Any] | None = None
    ingredients: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    hidden_boxes: list[dict[str, Any]] = field(default_factory=list)
    unknown_boxes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _layout(path: Path, *, error: type[SigningError | VerificationError], verb: str) -> Layout:
    """The MP4's box layout; an unreadable file or one that is not BMFF raises ``error``."""
    try:
        return read_layout(path)
    except BmffError as exc:
        raise error(f"cannot {verb} {path.name}: {exc}") from None
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from None


def sign_mp4(
    src: Path, *, dest: Path, claim: GenerationClaim, signer: ClaimSigner, segment: SegmentLink | None = None
) -> SignedManifest:
    """Embed a signed manifest for ``claim`` into a copy of ``src`` written at ``dest``.

    ``segment`` marks ``src`` as one segment of a live stream (see :class:`SegmentLink`).
    ``dest`` appears only on success (written beside it, then renamed); an existing ``dest`` is
    refused. Every failure raises :class:`SigningError` with the library's message.
    """
    started = time.perf_counter()
    src, dest = Path(src), Path(dest)
    _check_claim(claim)
    if segment is not None:
        _check_segment(segment)
    layout = _layout(src, error=SigningError, verb="sign")
    if dest.exists():
        raise SigningError(f"refusing to overwrite {dest}")
    partial = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.c2pa-partial")
    failures: list[Exception] = []
    c2pa_signer = builder = None
    try:
        c2pa_signer = signer.to_c2pa_signer(on_error=failures.append)
        context = c2pa.Context.from_dict(definition.BUILDER_SETTINGS)
        manifest = definition.manifest_definition(claim, duration_ms=layout.duration_ms, segment=segment)
        builder = c2pa.Builder(manifest, context=context)
        builder.set_intent(
            c2pa.C2paBuilderIntent.CREATE, c2pa.C2paDigitalSourceType.TRAINED_ALGORITHMIC_MEDIA
        )
        with open(src, "rb") as source, open(partial, "w+b") as target:  # c2pa needs a seekable w+b sink
            manifest_bytes = builder.sign(c2pa_signer, MP4, source, target)
        manifest_id = _active_label(manifest_bytes)
        os.replace(partial, dest)
    except c2pa.C2paError as exc:
        partial.unlink(missing_ok=True)
        if failures:
            raise SigningError(
                f"the signing key failed to sign the C2PA claim ({type(failures[0]).__name__}); "
                "check the KMS/HSM or key file"
            ) from None
        raise SigningError(f"C2PA signing failed: {exc}") from None
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise SigningError(f"C2PA signing failed writing {dest}: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        for resource in (builder, c2pa_signer):
            if resource is not None:
                resource.close()
    elapsed = time.perf_counter() - started
    logger.info("signed %s: manifest %s (%d bytes) in %.1f ms", dest.name, manifest_id, len(manifest_bytes),
                elapsed * 1000)
    return SignedManifest(
        manifest_id=manifest_id, manifest_bytes=manifest_bytes, path=dest, size=dest.stat().st_size,
        elapsed_s=elapsed,
    )


def verify_mp4(path: Path, *, trust_anchors_pem: bytes | None) -> C2paReport:
    """Read and validate ``path``'s manifest; ``trust_anchors_pem`` are the roots to trust (PEM).

    Raises :class:`VerificationError` when the file is not a readable MP4 (empty, truncated,
    not BMFF); a file without a manifest is ``absent``, not an error.
    """
    path = Path(path)
    layout = _layout(path, error=VerificationError, verb="verify")
    base: dict[str, Any] = {
        "trust_anchors_configured": trust_anchors_pem is not None,
        "hidden_boxes": _hidden_data(path, layout),
        "unknown_boxes": [b.to_dict() for b in layout.unknown],
    }
    try:
        context = c2pa.Context.from_dict(definition.reader_settings(trust_anchors_pem))
        with open(path, "rb") as handle:
            reader = c2pa.Reader.try_create(MP4, handle, None, context)
            if reader is None:
                return C2paReport(state="absent", reason="the file carries no C2PA manifest", **base)
            with reader:
                library_state = reader.get_validation_state()
                results = reader.get_validation_results()
                store = json.loads(reader.json())
    except c2pa.C2paError as exc:
        return _unreadable_manifest(path, layout, exc, base)
    except OSError as exc:
        raise VerificationError(f"cannot read {path}: {exc.strerror or exc}") from None
    return _report(store, library_state=library_state, results=results, base=base)


def manifest_json_from_bytes(
    manifest_bytes: bytes, *, trust_anchors_pem: bytes | None = None
) -> dict[str, Any]:
    """The manifest store of a stored JUMBF blob (``SignedManifest.manifest_bytes``), as JSON.

    Read as a sidecar (``application/c2pa``) without the asset: the signature and certificate
    chain are checked, the asset hash cannot be, so the library's ``assertion.bmffHash.mismatch``
    is dropped and ``asset_binding`` says it was not checked.
    """
    try:
        context = c2pa.Context.from_dict(definition.reader_settings(trust_anchors_pem))
        with c2pa.Reader("application/c2pa", io.BytesIO(manifest_bytes), None, context) as reader:
            store = json.loads(reader.json())
            results = reader.get_validation_results()
    except c2pa.C2paError as exc:
        raise VerificationError(f"stored manifest could not be read: {exc}") from None
    failures = [c for c in codes(results, "failure") if not c.startswith("assertion.bmffHash")]
    store.pop("validation_results", None)
    store.pop("validation_state", None)
    store.pop("validation_status", None)
    store["asset_binding"] = "not checked: manifest read without its video"
    store["signature_status_codes"] = failures
    return store


def summarize_manifest_bytes(manifest_bytes: bytes, *, trust_anchors_pem: bytes | None = None) -> C2paReport:
    """The same report as :func:`verify_mp4` for a stored manifest, minus the asset-hash check."""
    store = manifest_json_from_bytes(manifest_bytes, trust_anchors_pem=trust_anchors_pem)
    failures = store["signature_status_codes"]
    if failures:
        state: State = "untrusted" if set(failures) <= {"signingCredential.untrusted"} else "invalid"
    else:
        state = "trusted" if trust_anchors_pem is not None else "untrusted"
    manifest = store.get("manifests", {}).get(store.get("active_manifest"), {})
    return C2paReport(
        state=state, status_codes=list(failures), manifest_id=store.get("active_manifest"),
        reason="read from the repository: the asset hash was not checked",
        trust_anchors_configured=trust_anchors_pem is not None, **manifest_fields(manifest),
    )


# ---------------------------------------------------------------------------------------------


def _check_claim(claim: GenerationClaim) -> None:
    problems: list[str] = []
    if not _GENERATION_ID.match(claim.generation_id):
        problems.append(f"generation_id {claim.generation_id!r} is not gen_ + 16 hex digits")
    elif not 0 <= claim.watermark_id < 2**64 or generation_id_for(claim.watermark_id) != claim.generation_id:
        problems.append("watermark_id does not match generation_id")
    if not claim.watermark_alg:
        problems.append("watermark_alg is empty (the soft binding needs the algorithm name)")
    if not _SHA256.match(claim.consent_ref_sha256):
        problems.append("consent_ref_sha256 is not a lowercase hex SHA-256")
    for ref in claim.inputs:
        if ref.role not in ("portrait", "audio"):
            problems.append(f"input role {ref.role!r} is not portrait or audio")
        if not _SHA256.match(ref.sha256):
            problems.append(f"{ref.role} sha256 is not a lowercase hex SHA-256")
        if "/" not in ref.mime:
            problems.append(f"{ref.role} mime {ref.mime!r} is not a MIME type")
    if not claim.generator_name or not claim.generator_version:
        problems.append("generator name and version are required")
    if problems:
        raise SigningError("invalid generation claim: " + "; ".join(problems))


def _check_segment(segment: SegmentLink) -> None:
    problems: list[str] = []
    if not segment.stream_id:
        problems.append("stream_id is empty")
    if segment.sequence_number < 1:
        problems.append("sequence numbers start at 1")
    first = segment.sequence_number == 1
    if first != (segment.previous_manifest_id is None) or first != (segment.previous_sha256 is None):
        problems.append("exactly the first segment has no previous manifest id and hash")
    if segment.previous_sha256 is not None and not _SHA256.match(segment.previous_sha256):
        problems.append("previous_sha256 is not a lowercase hex SHA-256")
    if segment.first_frame < 0 or segment.frames < 1 or not segment.fps > 0:
        problems.append("a segment holds at least one frame at a positive frame rate")
    if problems:
        raise SigningError("invalid live segment link: " + "; ".join(problems))


def _active_label(manifest_bytes: bytes) -> str:
    context = c2pa.Context.from_dict(
        {"verify": {"verify_trust": False, "remote_manifest_fetch": False, "ocsp_fetch": False}}
    )
    with c2pa.Reader("application/c2pa", io.BytesIO(manifest_bytes), None, context) as reader:
        label = json.loads(reader.json()).get("active_manifest")
    if not isinstance(label, str):
        raise c2pa.C2paError("the signed manifest store names no active manifest")
    return label


def _report(
    store: dict[str, Any], *, library_state: str | None, results: dict[str, Any] | None, base: dict[str, Any]
) -> C2paReport:
    state = map_state(library_state)
    failures = codes(results, "failure")
    label = store.get("active_manifest")
    manifest = (store.get("manifests") or {}).get(label) or {}
    reason = {
        "trusted": None,
        "untrusted": "the signature is valid but the signer does not chain to the configured trust anchors",
        "invalid": "the manifest does not validate: " + (", ".join(failures) or f"state {library_state}"),
    }[state]
    return C2paReport(
        state=state,
        status_codes=failures,
        success_codes=codes(results, "success"),
        informational_codes=codes(results, "informational"),
        reason=reason,
        manifest_id=label if isinstance(label, str) else None,
        **manifest_fields(manifest),
        **base,
    )


def _hidden_data(path: Path, layout: Layout) -> list[dict[str, Any]]:
    """Bytes that carry data but no signature covers: free/skip payloads, non-zero signature pad."""
    hidden = [b.to_dict() for b in layout.hidden]
    for box in layout.boxes:
        if box.is_c2pa_manifest and box.size <= MAX_MANIFEST_BYTES:
            try:
                with open(path, "rb") as handle:
                    handle.seek(box.offset)
                    store = handle.read(box.size)
            except OSError as exc:
                raise VerificationError(f"cannot read {path}: {exc.strerror or exc}") from None
            pads = signature_padding(store, base_offset=box.offset)
            hidden += [pad.to_dict() for pad in pads if pad.nonzero]
    return hidden


def _unreadable_manifest(path: Path, layout: Layout, exc: c2pa.C2paError, base: dict[str, Any]) -> C2paReport:
    if layout.has_c2pa_box:
        return C2paReport(state="invalid", reason=f"the C2PA manifest box could not be parsed: {exc}", **base)
    raise VerificationError(f"cannot verify {path.name}: the C2PA library could not read it: {exc}") from None
