"""The statement's forensic check: is the recording this platform's own synthetic output?

>>> from consent._forensics import Forensics, Off
>>> Forensics(watermark_key=None, trust_anchors_pem=None).missing()
['the watermark key', 'the C2PA trust anchors']
>>> Off(reason="the test's recordings are generator-made").reason
"the test's recordings are generator-made"

:func:`forensic_check` runs :func:`detector.analyse` — the same code as ``detect clip.mp4`` — on
the recording with this platform's watermark key and trust anchors, reading the watermark on at
most :data:`WATERMARK_FRAMES` frames and running the companion classifier on at most
:data:`CLASSIFIER_WINDOWS` windows of consecutive frames (sampled evenly over the recording;
``detect`` reads up to 20). It fails when the recording carries a C2PA manifest (trusted,
untrusted or invalid: a camera recording made in the browser carries none), when our watermark
is found, or when the classifier says ``likely-synthetic``; its reason names what was found.
It also fails, saying so, when the watermark key or the trust anchors are not configured: it
never passes unchecked. Only :class:`Off`, an explicit setting with a reason (tests and the
browser test feed generator-made media through fake devices), skips it, and a skipped check is
named in the verdict's model versions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

logger = logging.getLogger(__name__)

WATERMARK_FRAMES = 50  # the release marks every frame; soft voting over 50 decides as well as over 250 here
CLASSIFIER_WINDOWS = 6  # of the card's 20: ~1.3 s less per 10 s recording (docs/consent.md)


@dataclass(frozen=True)
class Off:
    """An explicit decision not to run a statement check, with the reason (never the production setting)."""

    reason: str

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError("turning a statement check off needs a reason")


@dataclass(frozen=True)
class Forensics:
    """What the forensic check needs: this platform's watermark key and C2PA trust anchors, and the classifier.

    Build it from the same material as ``detect`` (``gateway.deps.verifier_material``).
    ``classifier`` is ``"default"`` (the shipped model), a loaded :class:`detector.Classifier`, or
    None (no classifier: the check then fails, saying so).
    """

    watermark_key: bytes | None
    trust_anchors_pem: bytes | None
    classifier: Any = "default"  # detector.Classifier | Literal["default"] | None
    classifier_windows: int = CLASSIFIER_WINDOWS
    watermark_frames: int = WATERMARK_FRAMES

    def __repr__(self) -> str:  # never print the key
        return (f"Forensics(watermark_key=<{len(self.watermark_key or b'')} bytes>, trust_anchors="
                f"{'yes' if self.trust_anchors_pem else 'no'}, classifier={self.classifier!r})")

    def missing(self) -> list[str]:
        """What is not configured, in words."""
        out = []
        if not self.watermark_key:
            out.append("the watermark key")
        if not self.trust_anchors_pem:
            out.append("the C2PA trust anchors")
        if self.classifier is None:
            out.append("the companion classifier")
        return out


@dataclass(frozen=True)
class ForensicResult:
    passed: bool
    score: float  # the classifier's calibrated score (NaN when it gave none)
    reason: str
    version: str
    elapsed_ms: float


def forensic_check(path: Path | str, *, forensics: Forensics) -> ForensicResult:
    """Run the platform's own detector on a statement recording (see the module's docstring)."""
    from detector import DetectorError, ModelError, analyse, default_classifier
    from detector.classifier import Classifier

    classifier: Classifier | Literal["default"] | None = forensics.classifier
    notes: list[str] = []
    if classifier == "default":
        try:
            classifier = default_classifier()
        except ModelError as exc:
            classifier, notes = None, [f"the companion classifier could not be loaded ({exc})"]
    if isinstance(classifier, Classifier) and classifier.card.max_windows > forensics.classifier_windows:
        classifier = classifier.with_windows(forensics.classifier_windows)
    try:
        report = analyse(Path(path), trust_anchors_pem=forensics.trust_anchors_pem or None,
                         watermark_key=forensics.watermark_key or None, repository=None,
                         max_frames=forensics.watermark_frames, classifier=classifier)
    except DetectorError as exc:
        return ForensicResult(False, float("nan"), f"the recording could not be analysed for synthetic media ({exc}): "
                              "record the statement again", "detector", 0.0)
    c2pa, mark, judged = report.c2pa, report.watermark, report.classifier
    model = judged.model or {}
    version = f"detector: {model.get('name', 'no classifier')} {model.get('version', '')}".strip()
    score = float(judged.score) if judged.score is not None else float("nan")
    elapsed = 1000 * report.elapsed_s
    found = []
    if c2pa.get("state") in ("trusted", "untrusted", "invalid"):
        who = f" naming {c2pa['generation_id']}" if c2pa.get("generation_id") else ""
        found.append(f"a C2PA manifest ({c2pa['state']}{who})")
    if mark.found:
        found.append(f"this platform's watermark (generation {mark.generation_id}, false-match probability "
                     f"{mark.false_match_probability:.1e})")
    if judged.verdict == "likely-synthetic":
        band = f", band {judged.band[0]:.2f}–{judged.band[1]:.2f}" if judged.band else ""
        found.append(f"the traces of this platform's generator (companion classifier: likely-synthetic, score "
                     f"{score:.2f}{band})")
    missing = [*Forensics(watermark_key=forensics.watermark_key, trust_anchors_pem=forensics.trust_anchors_pem,
                          classifier=classifier).missing(), *notes]
    if found:
        return ForensicResult(False, score, "the recording is synthetic media, not a recording of you: it carries "
                              + " and ".join(found) + ". Record yourself with your camera", version, elapsed)
    if missing:
        are = "are" if len(missing) > 1 else "is"
        return ForensicResult(False, score, "the recording could not be checked for synthetic media: "
                              + " and ".join(missing) + f" {are} not configured on this server (an operator must "
                              "fix this; nothing you can redo)", version, elapsed)
    verdict = judged.verdict if judged.score is None else f"{judged.verdict}, score {score:.2f}"
    return ForensicResult(True, score, f"no C2PA manifest, no watermark of this platform, companion classifier "
                          f"{verdict}", version, elapsed)
