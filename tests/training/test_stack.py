"""The detector's training workflow: a fold's card, and the stack step that fits the combined model
(CNN logit + frozen-texture cue) out of fold from kept rows."""

from __future__ import annotations

import json
import shutil

import numpy as np

from detector import Classifier
from detector.classifier import DEFAULT_CARD, Stacking
from detector.stacking import fit_stacking
from training.detector import fold_card, stack_model


def test_a_fold_card_names_the_fold_model_and_its_own_combination(tmp_path):
    card = json.loads(DEFAULT_CARD.read_text())
    onnx = tmp_path / "fold1.onnx"
    shutil.copy(DEFAULT_CARD.parent / card["file"], onnx)
    own = {"bias": -1.0, "cnn": 0.5, "texture": -2.0, "texture_fill": -2.5}
    loaded = Classifier.load(fold_card(DEFAULT_CARD, onnx_path=onnx, work=tmp_path / "work", stacking=own))
    assert loaded.card.stacking == Stacking.from_dict(own)
    assert loaded.card.temperature == Classifier.load().card.temperature
    alone = Classifier.load(fold_card(DEFAULT_CARD, onnx_path=onnx, work=tmp_path / "alone", stacking=None))
    assert alone.card.stacking is None  # the CNN alone: what the stack step scores


def _stack_folder(root, card: dict, clips: list[str], rows: list[dict]):
    model, work = root / "model", root / "work"
    (model / "folds").mkdir(parents=True)
    work.mkdir()
    shutil.copy(DEFAULT_CARD.parent / card["file"], model / card["file"])
    (model / "companion.json").write_text(json.dumps(card))
    for k, c in enumerate(clips):
        (model / "folds" / f"fold{k + 1}.json").write_text(json.dumps({"held_out": [c]}))
    (work / "rows.json").write_text(json.dumps(rows))
    return model, work


def _rows(rng: np.random.Generator, clips: list[str], *, fooled: str | None = None) -> list[dict]:
    """Stacking rows: the CNN separates every clip but ``fooled`` (a real clip it scores like a twin, whose
    background is live); the cue separates all but the compressed variant of the first clip's real file."""
    rows = []
    for k, c in enumerate(clips):
        for kind in ("real", "twinA", "twinB"):
            for cond in ("clean", "x0.60-crf30"):
                synthetic = kind != "real"
                cnn = float(rng.normal(6 if synthetic else -4, 1))
                if c == fooled and not synthetic:
                    cnn = 7.0
                texture = float(rng.normal(-3.2 if synthetic else -1.3, 0.3))
                if k == 0 and not synthetic and cond != "clean":
                    texture = -3.6  # a static background, compressed: reads frozen
                rows.append({"clip": c, "fold": f"fold{k + 1}", "kind": kind, "label": int(synthetic),
                             "condition": cond, "cnn_logit": cnn, "texture": texture})
    return rows


def test_the_stack_step_refits_the_card_from_kept_rows_in_either_form(tmp_path):
    card = json.loads(DEFAULT_CARD.read_text())
    clips = ["a", "b", "c", "d"]
    rows = _rows(np.random.default_rng(3), clips, fooled="c")
    results = {}
    for form in ("tied", "free"):
        model, work = _stack_folder(tmp_path / form, card, clips, rows)
        path = stack_model(model, data=tmp_path / "no-clips-needed", work=work, form=form, cue="always")
        written = json.loads(path.read_text())
        assert written["stacking_fit"]["form"] == form and written["stacking_fit"]["rows"] == len(rows)
        assert written["stacking"] == fit_stacking(rows, form=form).to_dict()
        assert 0.9 <= written["thresholds"]["likely_synthetic"] <= 0.99
        assert written["calibration"]["cnn_only_temperature"] == card["calibration"].get(
            "cnn_only_temperature", card["calibration"]["temperature"])
        for k, c in enumerate(clips):  # each fold's combination never saw its clip's rows
            fold = json.loads((model / "folds" / f"fold{k + 1}.json").read_text())
            assert fold["stacking"] == fit_stacking([r for r in rows if r["clip"] != c], form=form).to_dict()
        assert Classifier.load(path).card.stacking == Stacking.from_dict(written["stacking"])
        results[form] = written["stacking"]
    assert results["tied"] != results["free"]


def test_the_stack_step_keeps_the_cue_only_when_it_beats_the_cnn_alone(tmp_path):
    cnn_card = json.loads(DEFAULT_CARD.read_text())
    cnn_card.pop("stacking", None)
    cnn_card["calibration"] = {"method": "temperature scaling of the clip logit", "temperature": 1.25}
    cnn_card["thresholds"]["likely_synthetic"] = 0.93
    clips = ["a", "b", "c", "d", "e"]
    # The CNN is fooled by one real clip: the cue rescues it, the combination wins and is kept.
    model, work = _stack_folder(tmp_path / "helps", cnn_card, clips, _rows(np.random.default_rng(4), clips, fooled="c"))
    helps = json.loads(stack_model(model, data=tmp_path, work=work, cue="auto").read_text())
    assert helps["stacking_fit"]["chosen"] == "combined"
    assert helps["stacking_fit"]["held_out_auc"]["combined"] > helps["stacking_fit"]["held_out_auc"]["cnn_alone"]
    assert helps["stacking"] is not None and helps["calibration"]["cnn_only_temperature"] == 1.25
    # Refit on rows where the CNN is never wrong: the compressed static background only costs, so the card goes
    # back to the CNN alone, with the CNN's own temperature and threshold (not the combination's).
    (work / "rows.json").write_text(json.dumps(_rows(np.random.default_rng(5), clips)))
    alone = json.loads(stack_model(model, data=tmp_path, work=work, cue="auto").read_text())
    assert alone["stacking_fit"]["chosen"] == "cnn-alone" and alone["stacking"] is None
    assert alone["calibration"]["temperature"] == 1.25 and alone["thresholds"]["likely_synthetic"] == 0.93
    assert "combined" not in alone["architecture"]
    assert all(json.loads((model / "folds" / f"fold{k}.json").read_text())["stacking"] is None for k in range(1, 6))
    assert Classifier.load(model / "companion.json").card.stacking is None
