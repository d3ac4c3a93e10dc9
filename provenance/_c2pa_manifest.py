"""The manifest definition that :func:`provenance.c2pa.sign_mp4` hands to ``c2pa.Builder``.

What c2pa-rs 0.91.3 makes of it (measured; ``verify_after_sign`` checks it at signing time):

- ``Builder.set_intent(CREATE, TRAINED_ALGORITHMIC_MEDIA)`` plus our own ``c2pa.created`` action
  yield one ``c2pa.created`` action (first, as required) with digitalSourceType
  ``trainedAlgorithmicMedia``, our software agent, and ``parameters.ingredients`` as hashed URIs
  to the input ingredients (``org.cai.ingredientIds`` → resolved by label).
- Inputs are ``inputTo`` ingredients declared **without their bytes**: title, format,
  ``instance_id = "sha256:<hex>"`` and ``metadata["com.likeness.sha256"]``, written as
  ``c2pa.ingredient.v3`` assertions. (The definition's ``hash`` field is dropped by c2pa-rs,
  so the hash rides in ``instance_id`` and the metadata; our own assertion repeats it.)
- ``c2pa.watermarked.bound`` (C2PA 2.3+; plain ``c2pa.watermarked`` is deprecated in 2.4) is
  validated by c2pa-rs: without a ``c2pa.soft-binding`` assertion signing fails with
  ``assertion.action.softBindingMissing``. ``relatedAssertions`` would need the soft binding's
  hashed URI, which the definition cannot know before signing, so it is left out.
- A live segment (:class:`provenance.c2pa.SegmentLink`) adds C2PA 2.x §19.3's
  ``c2pa.livevideo.segment`` (``sequenceNumber``, ``streamId``, ``continuityMethod =
  c2pa.manifestId``, ``previousManifestId``) and our ``com.likeness.live.segment`` (the previous
  segment's SHA-256 and the segment's place in the session's timeline). c2pa-rs 0.91.3 stores the
  first as an ordinary assertion and validates neither: the chain is checked by
  :func:`provenance.live.verify_segments` (see ``docs/live.md``).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provenance.c2pa import GenerationClaim, SegmentLink

GENERATION_LABEL = "com.likeness.generation"
SOFT_BINDING_LABEL = "c2pa.soft-binding"
WATERMARK_ACTION = "c2pa.watermarked.bound"
CREATED_ACTION = "c2pa.created"
LIVE_SEGMENT_LABEL = "c2pa.livevideo.segment"
LIVE_LINK_LABEL = "com.likeness.live.segment"
CONTINUITY_MANIFEST_ID = "c2pa.manifestId"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
INGREDIENT_HASH_KEY = "com.likeness.sha256"

BUILDER_SETTINGS: dict[str, Any] = {
    "builder": {"thumbnail": {"enabled": False}},
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False, "verify_after_sign": True},
}


def reader_settings(trust_anchors_pem: bytes | None) -> dict[str, Any]:
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if trust_anchors_pem is not None:
        settings["trust"] = {"user_anchors": trust_anchors_pem.decode("ascii")}
    return settings


def watermark_value(watermark_id: int) -> str:
    """The soft-binding block value: the 64-bit watermark id, big-endian, base64."""
    return base64.b64encode(watermark_id.to_bytes(8, "big")).decode("ascii")


def watermark_id_from_value(value: str) -> int | None:
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, TypeError):
        return None
    return int.from_bytes(raw, "big") if len(raw) == 8 else None


def manifest_definition(
    claim: GenerationClaim, *, duration_ms: int | None, segment: SegmentLink | None = None
) -> dict[str, Any]:
    agent = {"name": claim.generator_name, "version": claim.generator_version}
    labels = _ingredient_labels([ref.role for ref in claim.inputs])
    ingredients = [
        {
            "label": label,
            "title": f"{ref.role} input (declared by SHA-256; content not embedded)",
            "format": ref.mime,
            "relationship": "inputTo",
            "instance_id": f"sha256:{ref.sha256}",
            "description": f"The {ref.role} this video was generated from, identified only by its SHA-256.",
            "metadata": {INGREDIENT_HASH_KEY: ref.sha256},
        }
        for ref, label in zip(claim.inputs, labels, strict=True)
    ]
    created: dict[str, Any] = {
        "action": CREATED_ACTION,
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": agent,
    }
    if labels:
        created["parameters"] = {"ingredientIds": labels}
    watermarked = {
        "action": WATERMARK_ACTION,
        "softwareAgent": agent,
        "description": "An invisible watermark carrying the generation id is embedded in every frame.",
    }
    scope: dict[str, Any] = {"timespan": {"start": 0, "end": duration_ms}} if duration_ms else {}
    assertions: list[dict[str, Any]] = [
        {"label": "c2pa.actions", "data": {"actions": [created, watermarked]}},
        {
            "label": SOFT_BINDING_LABEL,
            "data": {
                "alg": claim.watermark_alg,
                "name": "per-frame invisible watermark (64-bit generation id)",
                "blocks": [{"scope": scope, "value": watermark_value(claim.watermark_id)}],
            },
        },
        {"label": GENERATION_LABEL, "data": generation_assertion(claim)},
    ]
    title = claim.title
    if segment is not None:
        assertions += segment_assertions(segment)
        title = f"{claim.title} (live segment {segment.sequence_number})"
    return {
        "claim_generator_info": [agent],
        "title": title,
        "format": "video/mp4",
        "ingredients": ingredients,
        "assertions": assertions,
    }


def segment_assertions(segment: SegmentLink) -> list[dict[str, Any]]:
    """§19.3's ``c2pa.livevideo.segment`` (spec field names) and our link with the hash and timeline."""
    live: dict[str, Any] = {
        "sequenceNumber": segment.sequence_number,
        "streamId": segment.stream_id,
        "continuityMethod": CONTINUITY_MANIFEST_ID,
    }
    if segment.previous_manifest_id is not None:
        live["previousManifestId"] = segment.previous_manifest_id
    link: dict[str, Any] = {
        "stream_id": segment.stream_id,
        "sequence_number": segment.sequence_number,
        "previous_segment_sha256": segment.previous_sha256,
        "first_frame": segment.first_frame,
        "frames": segment.frames,
        "fps": segment.fps,
    }
    return [{"label": LIVE_SEGMENT_LABEL, "data": live}, {"label": LIVE_LINK_LABEL, "data": link}]


def generation_assertion(claim: GenerationClaim) -> dict[str, Any]:
    return {
        "generation_id": claim.generation_id,
        "watermark_id": f"{claim.watermark_id:016x}",
        "watermark_alg": claim.watermark_alg,
        "policy_version": claim.policy_version,
        "consent_ref_sha256": claim.consent_ref_sha256,
        "consent_self_attested": claim.consent_self_attested,
        "inputs": [{"role": ref.role, "sha256": ref.sha256, "mime": ref.mime} for ref in claim.inputs],
    }


def _ingredient_labels(roles: list[str]) -> list[str]:
    labels: list[str] = []
    for role in roles:
        label, n = role, 1
        while label in labels:
            n += 1
            label = f"{role}_{n}"
        labels.append(label)
    return labels
