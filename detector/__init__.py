"""The forensic tool behind ``detect clip.mp4``: provenance checks, watermark read, companion classifier, verdict.

>>> from detector import Classifier, analyse, render_html, DetectionReport    # doctest: +SKIP
>>> report = analyse(Path("clip.mp4"), trust_anchors_pem=root_pem, watermark_key=key, repository=None)
>>> report.verdict, report.classifier.verdict, report.classifier.score       # doctest: +SKIP
('no-provenance-found', 'not-detected', 0.03)
>>> Path("report.html").write_text(render_html(report))                      # doctest: +SKIP

Provenance (a trusted C2PA manifest, or our watermark) decides ``generated-by-likeness``; the
companion classifier (a small ONNX model shipped in ``detector/models``, hash-checked) can on its
own say at most ``likely-synthetic``. Training (``detector.train``, torch) is never imported here;
the workflow that trains it on generator twins is ``training.detector``. A report reads as text
(:func:`render_text`), JSON (``DetectionReport.to_json``) or HTML (:func:`render_html`).
"""

from detector._augment import wild_copy
from detector.analyse import analyse, default_classifier
from detector.classifier import Classifier, ModelCard
from detector.errors import DetectorError, ModelError
from detector.html_report import render_html
from detector.report import VERDICTS, ClassifierEvidence, DetectionReport
from detector.text_report import render_text

__all__ = [
    "VERDICTS",
    "Classifier",
    "ClassifierEvidence",
    "DetectionReport",
    "DetectorError",
    "ModelCard",
    "ModelError",
    "analyse",
    "default_classifier",
    "render_html",
    "render_text",
    "wild_copy",
]
