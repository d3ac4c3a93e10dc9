"""Turn c2pa-python's reader JSON into the plain fields of :class:`provenance.c2pa.C2paReport`."""

from __future__ import annotations

from typing import Any, Literal

from provenance._c2pa_manifest import (
    CREATED_ACTION,
    GENERATION_LABEL,
    INGREDIENT_HASH_KEY,
    LIVE_LINK_LABEL,
    LIVE_SEGMENT_LABEL,
    SOFT_BINDING_LABEL,
    watermark_id_from_value,
)

Validated = Literal["trusted", "untrusted", "invalid"]  # the states of a manifest that is present
STATES: dict[str, Validated] = {"Trusted": "trusted", "Valid": "untrusted", "Invalid": "invalid"}


def map_state(library_state: str | None) -> Validated:
    """Library validation state → ours; anything unexpected fails closed as invalid."""
    return STATES.get(library_state or "", "invalid")


def codes(results: dict[str, Any] | None, kind: str) -> list[str]:
    """Status codes of one kind ("failure", "success", "informational") for the active manifest."""
    entries = ((results or {}).get("activeManifest") or {}).get(kind) or []
    seen: list[str] = []
    for entry in entries:
        code = entry.get("code") if isinstance(entry, dict) else None
        if isinstance(code, str) and code not in seen:
            seen.append(code)
    return seen


def manifest_fields(manifest: dict[str, Any]) -> dict[str, Any]:
    """The fields of the report that come from the active manifest itself (claims, not verdicts)."""
    listed = [a for a in manifest.get("assertions") or [] if isinstance(a, dict)]
    assertions = {a["label"]: a.get("data") for a in listed if isinstance(a.get("label"), str)}
    generation = _dict(assertions.get(GENERATION_LABEL))
    binding = _dict(assertions.get(SOFT_BINDING_LABEL))
    actions = _actions(assertions)
    signature = _dict(manifest.get("signature_info"))
    watermark_id = _hex64(generation.get("watermark_id"))
    if watermark_id is None:
        blocks = binding.get("blocks") or []
        value = blocks[0].get("value") if blocks and isinstance(blocks[0], dict) else None
        decoded = watermark_id_from_value(value) if isinstance(value, str) else None
        watermark_id = f"{decoded:016x}" if decoded is not None else None
    generators = manifest.get("claim_generator_info") or []
    generator = _agent(generators[0]) if generators else None
    return {
        "title": manifest.get("title"),
        "claim_generator": generator,
        "generator": generator_info(generators[0]) if generators else None,
        "signer": signature.get("common_name") or signature.get("issuer"),
        "signer_issuer": signature.get("issuer"),
        "signed_at": signature.get("time"),
        "digital_source_type": next(
            (a.get("digital_source_type") for a in actions if a["action"] == CREATED_ACTION), None
        ),
        "generation_id": _str(generation.get("generation_id")),
        "watermark_id": watermark_id,
        "watermark_alg": _str(binding.get("alg")) or _str(generation.get("watermark_alg")),
        "policy_version": _str(generation.get("policy_version")),
        "consent_ref_sha256": _str(generation.get("consent_ref_sha256")),
        "consent_self_attested": _bool(generation.get("consent_self_attested")),
        "ingredients": [_ingredient(i) for i in manifest.get("ingredients") or [] if isinstance(i, dict)],
        "actions": actions,
        "has_soft_binding": bool(binding),
        "live_segment": _live_segment(assertions),
    }


def _live_segment(assertions: dict[str, Any]) -> dict[str, Any] | None:
    """A live segment's place in its stream: §19.3's assertion and our link, or None for a whole file."""
    live, link = _dict(assertions.get(LIVE_SEGMENT_LABEL)), _dict(assertions.get(LIVE_LINK_LABEL))
    if not live and not link:
        return None
    sequence = live.get("sequenceNumber")
    first_frame, frames = link.get("first_frame"), link.get("frames")
    fps = link.get("fps")
    return {
        "sequence_number": sequence if isinstance(sequence, int) and not isinstance(sequence, bool) else None,
        "stream_id": _str(live.get("streamId")),
        "continuity_method": _str(live.get("continuityMethod")),
        "previous_manifest_id": _str(live.get("previousManifestId")),
        "link_sequence_number": link.get("sequence_number") if isinstance(link.get("sequence_number"), int) else None,
        "link_stream_id": _str(link.get("stream_id")),
        "previous_segment_sha256": _str(link.get("previous_segment_sha256")),
        "first_frame": first_frame if isinstance(first_frame, int) else None,
        "frames": frames if isinstance(frames, int) else None,
        "fps": float(fps) if isinstance(fps, int | float) and not isinstance(fps, bool) else None,
    }


def _actions(assertions: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for label in ("c2pa.actions.v2", "c2pa.actions"):
        for action in _dict(assertions.get(label)).get("actions") or []:
            if not isinstance(action, dict) or not isinstance(action.get("action"), str):
                continue
            item: dict[str, Any] = {"action": action["action"]}
            if isinstance(action.get("digitalSourceType"), str):
                item["digital_source_type"] = action["digitalSourceType"]
            agent = _agent(action.get("softwareAgent"))
            if agent:
                item["software_agent"] = agent
            if isinstance(action.get("description"), str):
                item["description"] = action["description"]
            out.append(item)
    return out


def _ingredient(ingredient: dict[str, Any]) -> dict[str, Any]:
    metadata = _dict(ingredient.get("metadata"))
    sha256 = metadata.get(INGREDIENT_HASH_KEY)
    instance = ingredient.get("instance_id")
    if not isinstance(sha256, str) and isinstance(instance, str) and instance.startswith("sha256:"):
        sha256 = instance.removeprefix("sha256:")
    return {
        "title": ingredient.get("title"),
        "format": ingredient.get("format"),
        "relationship": ingredient.get("relationship"),
        "sha256": sha256 if isinstance(sha256, str) else None,
        "has_manifest": bool(ingredient.get("active_manifest")),
    }


def generator_info(value: Any) -> dict[str, str | None] | None:
    """``{"name", "version"}`` of a ``claim_generator_info`` entry (ours: ``likeness-generator-<backend>``)."""
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        version = value.get("version")
        return {"name": value["name"], "version": version if isinstance(version, str) else None}
    return None


def _agent(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        version = value.get("version")
        return f"{value['name']} {version}" if isinstance(version, str) else value["name"]
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _hex64(value: Any) -> str | None:
    if isinstance(value, str) and len(value) == 16:
        try:
            return f"{int(value, 16):016x}"
        except ValueError:
            return None
    return None
