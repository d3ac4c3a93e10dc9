"""The runnable examples that open the detector's modules do run; the public surface is what it says."""

from __future__ import annotations


def test_public_surface():
    import detector

    assert sorted(detector.__all__) == sorted([
        "VERDICTS", "Classifier", "ClassifierEvidence", "DetectionReport", "DetectorError", "ModelCard",
        "ModelError", "analyse", "default_classifier", "render_html", "render_text", "wild_copy",
    ])
    assert "likely-synthetic" in detector.VERDICTS and "generated-by-likeness" in detector.VERDICTS
