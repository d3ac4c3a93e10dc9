"""The forensic report of ``detect`` and its verdict logic.

Verdicts (``DetectionReport.verdict``):

- ``generated-by-likeness`` — a C2PA manifest that chains to our trust anchors, or a watermark
  whose code check passed: this platform generated the clip.
- ``provenance-conflict`` — both are present but name different generations.
- ``invalid-manifest`` — a manifest is present but fails validation (edited after signing, or forged),
  and no watermark was found.
- ``untrusted-manifest`` — a valid manifest signed by a certificate we do not trust, no watermark.
- ``likely-synthetic`` — neither a manifest nor a watermark, but the companion classifier finds
  the traces of this platform's generator (calibrated score at or above the model's threshold,
  and the lower end of its confidence band above one half). A statistical judgement, never
  proof: it is the strongest thing the classifier alone may say, and it never overrides the
  provenance verdicts above.
- ``no-provenance-found`` — neither a manifest nor a watermark, and the classifier does not say
  ``likely-synthetic``. This says nothing about whether the clip is real.

The classifier's own verdicts (``ClassifierEvidence.verdict``): ``likely-synthetic``,
``inconclusive``, ``not-detected``, ``undetermined`` (the clip is outside what it was trained
for: no face, a tiny face, shorter than a second) and ``unavailable`` (no model loaded).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

VERDICT_GENERATED = "generated-by-likeness"
VERDICT_CONFLICT = "provenance-conflict"
VERDICT_INVALID = "invalid-manifest"
VERDICT_UNTRUSTED = "untrusted-manifest"
VERDICT_NONE = "no-provenance-found"
VERDICT_LIKELY_SYNTHETIC = "likely-synthetic"
VERDICTS = (VERDICT_GENERATED, VERDICT_CONFLICT, VERDICT_INVALID, VERDICT_UNTRUSTED, VERDICT_LIKELY_SYNTHETIC,
            VERDICT_NONE)

CLASSIFIER_LIKELY_SYNTHETIC = "likely-synthetic"
CLASSIFIER_INCONCLUSIVE = "inconclusive"
CLASSIFIER_NOT_DETECTED = "not-detected"
CLASSIFIER_UNDETERMINED = "undetermined"
CLASSIFIER_UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class WatermarkEvidence:
    """The watermark read. ``found`` needs the keyed code check to pass and, where the manifest
    repository is reachable, the id to be a generation it recorded (``known``; None when it could
    not be asked). ``strength`` and ``scale`` name the hypothesis that read it (scale 2.0: the clip
    had been downscaled to half size)."""

    checked: bool
    found: bool
    generation_id: str | None
    watermark_id: str | None
    bit_agreement: float | None
    false_match_probability: float | None
    frames_read: int
    hypotheses: int
    reason: str | None = None
    code_check_passed: bool = False
    known: bool | None = None
    strength: float | None = None
    scale: float | None = None


@dataclass(frozen=True)
class ManifestLookup:
    repository: str  # "reachable" | "unreachable" | "not-configured"
    found: bool
    record: dict[str, Any] | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ClassifierEvidence:
    """The companion classifier's reading of the clip.

    ``score``: calibrated probability that the clip comes from this platform's generator (None
    when ``undetermined`` or ``unavailable``); ``band``: its ``band_level`` confidence interval,
    bootstrapped over the clip's windows (how much the evidence varies along the clip — not the
    model's own uncertainty, see docs/detector.md); ``logit``: the uncalibrated mean window logit.
    ``curve``: one point per window (about one a second): ``t_s`` (window centre), ``start_frame``,
    ``frames``, ``score``, ``logit``; ``frame_scores``: a calibrated score per analysed frame;
    ``drivers``: the windows that pushed the score up most. ``cnn_logit``: the CNN's own mean window
    logit; ``frozen_texture``: the background cue of :mod:`detector.texture` (None when not measured);
    with a combined model (card ``stacking``) ``logit`` is their weighted sum, else the CNN's.
    ``thumbnails`` (``frame:<i>`` → the frame, ``face:<i>`` → the crop the model saw; small RGB
    images for the HTML report) never reach the JSON.
    """

    score: float | None
    verdict: str
    reason: str | None = None
    logit: float | None = None
    band: tuple[float, float] | None = None
    band_level: float | None = None
    threshold: float | None = None
    model: dict[str, Any] | None = None
    windows: int = 0
    windows_planned: int = 0
    frames_analysed: int = 0
    frames_with_face: int = 0
    face_px: float | None = None
    curve: list[dict[str, Any]] = field(default_factory=list)
    frame_scores: list[dict[str, Any]] = field(default_factory=list)
    drivers: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0
    cnn_logit: float | None = None
    frozen_texture: float | None = None
    thumbnails: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "thumbnails"}
        out["band"] = list(self.band) if self.band is not None else None
        return out


@dataclass(frozen=True)
class DetectionReport:
    file: str
    sha256: str
    video: dict[str, Any]
    c2pa: dict[str, Any]
    watermark: WatermarkEvidence
    manifest_lookup: ManifestLookup
    classifier: ClassifierEvidence
    verdict: str
    summary: str
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "classifier":
                out[f.name] = value.to_dict()
            elif f.name in ("watermark", "manifest_lookup"):
                out[f.name] = asdict(value)
            else:
                out[f.name] = value
        return out


def decide(
    *,
    c2pa_state: str,
    c2pa_generation_id: str | None,
    watermark: WatermarkEvidence,
    classifier: ClassifierEvidence | None = None,
) -> tuple[str, str]:
    """Verdict and a one-sentence summary: provenance decides; the classifier may only turn
    ``no-provenance-found`` into ``likely-synthetic``."""
    verdict, summary = _provenance_verdict(
        c2pa_state=c2pa_state, c2pa_generation_id=c2pa_generation_id, watermark=watermark
    )
    if verdict == VERDICT_NONE and classifier is not None and classifier.verdict == CLASSIFIER_LIKELY_SYNTHETIC:
        band = f", {classifier.band_level:.0%} band {classifier.band[0]:.2f}–{classifier.band[1]:.2f}" if (
            classifier.band is not None and classifier.band_level is not None) else ""
        return VERDICT_LIKELY_SYNTHETIC, (
            f"no C2PA manifest and no watermark, but the companion classifier finds this platform's generator "
            f"(score {classifier.score:.2f}{band}): a statistical judgement, not proof"
        )
    return verdict, summary


def _provenance_verdict(
    *, c2pa_state: str, c2pa_generation_id: str | None, watermark: WatermarkEvidence
) -> tuple[str, str]:
    trusted = c2pa_state == "trusted"
    if trusted and watermark.found and c2pa_generation_id != watermark.generation_id:
        return VERDICT_CONFLICT, (
            f"the trusted manifest names {c2pa_generation_id} but the watermark names {watermark.generation_id}"
        )
    if trusted and watermark.found:
        return VERDICT_GENERATED, (
            f"generated by this platform ({c2pa_generation_id}): trusted C2PA manifest and watermark agree"
        )
    if trusted:
        return VERDICT_GENERATED, f"generated by this platform ({c2pa_generation_id}): trusted C2PA manifest"
    if watermark.found:
        manifest = {
            "invalid": "its C2PA manifest is invalid (the file was altered after signing)",
            "untrusted": "its C2PA manifest is not signed by a trusted certificate",
            "absent": "its C2PA manifest was stripped",
        }[c2pa_state]
        return VERDICT_GENERATED, (
            f"generated by this platform ({watermark.generation_id}): watermark found; {manifest}"
        )
    if c2pa_state == "invalid":
        return VERDICT_INVALID, "a C2PA manifest is present but fails validation, and no watermark was found"
    if c2pa_state == "untrusted":
        return VERDICT_UNTRUSTED, "a valid C2PA manifest signed by a certificate outside our trust anchors"
    return VERDICT_NONE, "no C2PA manifest and no watermark of this platform"
