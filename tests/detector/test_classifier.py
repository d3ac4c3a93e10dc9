"""The companion classifier: the shipped model and its card, the windows, calibration, the
out-of-domain answers, and the verdict logic (the classifier never overrides provenance)."""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import detector.classifier as classifier_module
from detector import Classifier, ModelError, analyse, default_classifier
from detector.classifier import DEFAULT_CARD, plan_windows
from detector.report import (
    VERDICT_CONFLICT,
    VERDICT_GENERATED,
    VERDICT_INVALID,
    VERDICT_LIKELY_SYNTHETIC,
    VERDICT_NONE,
    VERDICT_UNTRUSTED,
    ClassifierEvidence,
    WatermarkEvidence,
    decide,
)


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.load()


def test_shipped_model_matches_its_card(classifier):
    card = classifier.card
    blob = card.model_path.read_bytes()
    assert hashlib.sha256(blob).hexdigest() == card.sha256
    assert len(blob) < 5_000_000 and card.data["bytes"] == len(blob)
    assert card.data["architecture"]["parameters"] < 1_000_000
    assert card.temperature > 0 and 0.5 < card.likely_synthetic < 1
    assert card.data["training"]["clips"] and card.data["evaluation"]["clip_level"]["all"]["auc"] > 0.5
    assert card.data["limits"]
    import onnx

    model = onnx.load(str(card.model_path))
    assert model.ir_version <= 10  # onnxruntime-gpu rejects IR 14
    assert [i.name for i in model.graph.input] == ["face", "mouth"]


def test_logits_have_the_documented_shapes_and_windows_are_independent(classifier):
    g, window = classifier.card.geometry, classifier.card.window
    rng = np.random.default_rng(0)
    face = rng.integers(0, 256, (3, window, g.face_size, g.face_size, 3), dtype=np.uint8)
    mouth = rng.integers(0, 256, (3, window, g.mouth_size, g.mouth_size, 3), dtype=np.uint8)
    window_logits, frame_logits = classifier.logits(face, mouth=mouth)
    assert window_logits.shape == (3,) and frame_logits.shape == (3, window)
    np.testing.assert_allclose(window_logits, frame_logits.mean(axis=1), rtol=1e-4, atol=1e-4)
    alone, _ = classifier.logits(face[1:2], mouth=mouth[1:2])
    np.testing.assert_allclose(alone, window_logits[1:2], rtol=1e-4, atol=1e-4)


def test_calibration_is_monotonic_and_bounded(classifier):
    logits = np.linspace(-40, 40, 401)
    probabilities = classifier.calibrate(logits)
    assert np.all(np.diff(probabilities) >= 0) and probabilities[0] >= 0 and probabilities[-1] <= 1
    assert classifier.calibrate(0.0) == pytest.approx(0.5)


@pytest.mark.parametrize(("frames", "fps", "count"), [(250, 25.0, 10), (300, 30.0, 10), (25, 25.0, 2),
                                                      (1008, 30.0, 20), (7, 25.0, 0), (500, 50.0, 10)])
def test_about_one_window_a_second(frames, fps, count):
    step, starts = plan_windows(frames, fps=fps, window=8, frame_rate=25.0, max_windows=20)
    assert len(starts) == count
    assert step == (2 if fps == 50.0 else 1)
    if starts:
        assert starts[0] == 0 and starts[-1] + 7 * step == frames - 1
        assert starts == sorted(set(starts))


def test_a_tampered_model_is_refused(tmp_path):
    shutil.copy(DEFAULT_CARD, tmp_path / DEFAULT_CARD.name)
    card = json.loads(DEFAULT_CARD.read_text())
    blob = bytearray((DEFAULT_CARD.parent / card["file"]).read_bytes())
    blob[len(blob) // 2] ^= 0x01
    (tmp_path / card["file"]).write_bytes(bytes(blob))
    with pytest.raises(ModelError, match="does not match its card"):
        Classifier.load(tmp_path / DEFAULT_CARD.name)
    (tmp_path / card["file"]).unlink()
    with pytest.raises(ModelError, match="cannot read"):
        Classifier.load(tmp_path / DEFAULT_CARD.name)


def test_a_tampered_default_model_makes_the_classifier_unavailable_not_the_report(tmp_path, monkeypatch,
                                                                                   no_face_clip):
    shutil.copy(DEFAULT_CARD, tmp_path / DEFAULT_CARD.name)
    card = json.loads(DEFAULT_CARD.read_text())
    (tmp_path / card["file"]).write_bytes(b"not the model")
    monkeypatch.setattr(classifier_module, "DEFAULT_CARD", tmp_path / DEFAULT_CARD.name)
    default_classifier.cache_clear()
    try:
        report = analyse(no_face_clip, trust_anchors_pem=None, watermark_key=None, repository=None)
    finally:
        default_classifier.cache_clear()
    assert report.classifier.verdict == "unavailable" and report.classifier.score is None
    assert "does not match its card" in report.classifier.reason
    assert any("classifier unavailable" in note for note in report.notes)


def test_detect_path_does_not_import_torch():
    code = ("import sys; from pathlib import Path; import detector; detector.Classifier.load(); "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"


def test_undetermined_without_a_face(classifier, no_face_clip):
    report = analyse(no_face_clip, trust_anchors_pem=None, watermark_key=None, repository=None, classifier=classifier)
    assert report.classifier.verdict == "undetermined" and report.classifier.score is None
    assert "no face" in report.classifier.reason
    assert report.verdict == VERDICT_NONE


def test_undetermined_when_shorter_than_a_second(classifier, short_clip):
    report = analyse(short_clip, trust_anchors_pem=None, watermark_key=None, repository=None, classifier=classifier)
    assert report.classifier.verdict == "undetermined" and report.classifier.score is None
    assert "at least 1 s" in report.classifier.reason


def test_undetermined_for_a_tiny_face(classifier, tiny_face_clip):
    report = analyse(tiny_face_clip, trust_anchors_pem=None, watermark_key=None, repository=None,
                     classifier=classifier)
    assert report.classifier.verdict == "undetermined" and report.classifier.score is None
    assert "too small" in report.classifier.reason or "no face" in report.classifier.reason


def test_a_generated_clip_without_marks_is_scored(classifier, generated_clip):
    report = analyse(generated_clip, trust_anchors_pem=None, watermark_key=None, repository=None,
                     classifier=classifier)
    cls = report.classifier
    assert cls.score is not None and 0.0 <= cls.score <= 1.0
    assert cls.band is not None and cls.band[0] <= cls.score <= cls.band[1]
    assert cls.windows == len(cls.curve) >= 2 and cls.windows <= cls.windows_planned
    assert len(cls.frame_scores) == cls.windows * classifier.card.window
    assert cls.model["sha256"] == classifier.card.sha256
    assert len(cls.drivers) == min(3, cls.windows)
    assert all(f"face:{d['frame']}" in cls.thumbnails for d in cls.drivers)
    json.dumps(report.to_dict())  # the thumbnails stay out of the JSON
    assert "thumbnails" not in report.to_dict()["classifier"]
    # The generator's output with its marks gone: the classifier alone may say at most likely-synthetic.
    assert cls.verdict == "likely-synthetic", cls
    assert report.verdict == VERDICT_LIKELY_SYNTHETIC and "not proof" in report.summary


def _watermark(found: bool, generation_id: str | None = None) -> WatermarkEvidence:
    return WatermarkEvidence(checked=True, found=found, generation_id=generation_id, watermark_id=None,
                             bit_agreement=1.0 if found else 0.5, false_match_probability=1e-9, frames_read=25,
                             hypotheses=3, code_check_passed=found)


def _classified(verdict: str) -> ClassifierEvidence:
    score = {"likely-synthetic": 0.99, "inconclusive": 0.7, "not-detected": 0.05}.get(verdict)
    return ClassifierEvidence(score=score, verdict=verdict, band=(0.9, 1.0) if score else None,
                              band_level=0.9 if score else None)


@pytest.mark.parametrize(
    ("state", "found", "classified"),
    list(itertools.product(["trusted", "untrusted", "invalid", "absent"], [True, False],
                           ["likely-synthetic", "inconclusive", "not-detected", "undetermined", "unavailable"])),
)
def test_the_classifier_never_overrides_provenance(state, found, classified):
    generation = "gen_a"
    watermark = _watermark(found, generation if found else None)
    without, _ = decide(c2pa_state=state, c2pa_generation_id=generation if state == "trusted" else None,
                        watermark=watermark)
    verdict, summary = decide(c2pa_state=state, c2pa_generation_id=generation if state == "trusted" else None,
                              watermark=watermark, classifier=_classified(classified))
    if without == VERDICT_NONE and classified == "likely-synthetic":
        assert verdict == VERDICT_LIKELY_SYNTHETIC and "not proof" in summary
    else:
        assert verdict == without
    assert verdict != VERDICT_GENERATED or found or state == "trusted"


def test_conflict_stays_a_conflict_whatever_the_classifier_says():
    verdict, _ = decide(c2pa_state="trusted", c2pa_generation_id="gen_a", watermark=_watermark(True, "gen_b"),
                        classifier=_classified("likely-synthetic"))
    assert verdict == VERDICT_CONFLICT
    for state, expected in (("invalid", VERDICT_INVALID), ("untrusted", VERDICT_UNTRUSTED)):
        verdict, _ = decide(c2pa_state=state, c2pa_generation_id=None, watermark=_watermark(False),
                            classifier=_classified("likely-synthetic"))
        assert verdict == expected
