"""The frozen-texture cue and the combined model: the cue separates our generator's output from real
video (including lp_d10, the real clip the CNN alone mistakes), the combined model is what the shipped
card uses, it loads only with its hash check, and nothing leaks across the nested folds."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from detector import Classifier, ModelError, analyse
from detector.classifier import DEFAULT_CARD, Stacking
from detector.stacking import fit_stacking, nested_stacking
from detector.texture import background_mask, frozen_texture, small_grey


def _texture_of_clip(classifier: Classifier, path) -> tuple[float | None, object]:
    report = analyse(path, trust_anchors_pem=None, watermark_key=None, repository=None, classifier=classifier)
    return report.classifier.frozen_texture, report.classifier


# A combined model over the shipped network (companion 2.1's fitted weights): the shipped card may be the CNN
# alone (the stack step keeps the cue only when it helps), so the cue's path is tested on a combined card.
COMBINED = {"bias": -5.195307, "cnn": 0.416402, "texture": -1.97337, "texture_fill": -2.664324}


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Classifier:
    from training.detector import fold_card

    card = json.loads(DEFAULT_CARD.read_text())
    work = tmp_path_factory.mktemp("combined")
    onnx = work / card["file"]
    shutil.copy(DEFAULT_CARD.parent / card["file"], onnx)
    return Classifier.load(fold_card(DEFAULT_CARD, onnx_path=onnx, work=work, stacking=COMBINED))


def test_the_shipped_card_records_the_stack_steps_choice():
    shipped = Classifier.load()
    fit = shipped.card.data["stacking_fit"]
    held = fit["held_out_auc"]
    if fit["chosen"] == "combined":
        assert shipped.card.stacking is not None and held["combined"] > held["cnn_alone"]
        assert shipped.card.stacking.cnn > 0 and shipped.card.stacking.texture < 0  # frozen → synthetic
    else:
        assert fit["chosen"] == "cnn-alone" and shipped.card.stacking is None
        assert held["combined"] <= held["cnn_alone"]
    assert shipped.card.summary()["combined"] is (shipped.card.stacking is not None)


def test_frozen_texture_separates_a_generated_clip_from_real_ones(classifier, generated_clip, shared_data):
    generated, evidence = _texture_of_clip(classifier, generated_clip)
    assert generated is not None
    # The combined logit is exactly the documented affine map of the CNN's logit and the cue.
    expected = classifier.card.stacking.combine(np.array([evidence.cnn_logit]), generated)[0]
    assert evidence.logit == pytest.approx(expected, abs=1e-3)
    for name in ("lp_d10", "lp_d11"):  # lp_d10: smooth, filtered skin, the CNN's false alarm out of fold
        real, _ = _texture_of_clip(classifier, shared_data / "clips" / f"{name}.mp4")
        assert real is not None
        assert real > generated + 1.0, (name, real, generated)


def test_frozen_texture_on_frames_a_still_versus_a_camera():
    rng = np.random.default_rng(3)
    scene = cv2.GaussianBlur(rng.normal(128, 60, (360, 480, 3)), (0, 0), 2.5)  # a textured backdrop
    box = (200.0, 120.0, 280.0, 240.0)

    def grey_of(image: np.ndarray) -> np.ndarray:
        return small_grey(np.clip(image, 0, 255).astype(np.uint8))[0]

    grey, scale = small_grey(np.clip(scene, 0, 255).astype(np.uint8))
    still = frozen_texture([grey] * 4, box, scale=scale)
    pan = frozen_texture([grey_of(np.roll(scene, 2 * k, axis=1)) for k in range(4)], box, scale=scale)
    camera = frozen_texture([grey_of(scene + rng.normal(0, 8, scene.shape)) for _ in range(4)], box, scale=scale)
    assert still is not None and pan is not None and camera is not None
    assert still < -5  # the same texture: nothing renewed
    assert pan < camera - 1.0  # motion is compensated: a panning still stays (mostly) frozen; noise does not
    assert frozen_texture([grey], box, scale=scale) is None  # one frame: nothing to compare
    huge = (-1000.0, -1000.0, 2000.0, 2000.0)  # the face fills the frame: no background
    assert not background_mask(grey.shape, huge, scale=scale).any()
    assert frozen_texture([grey] * 4, huge, scale=scale) is None


def test_nested_stacking_never_sees_the_held_out_group():
    rng = np.random.default_rng(0)
    rows = [{"clip": f"c{k}", "label": y, "cnn_logit": float(rng.normal(4 * y - 1, 1)),
             "texture": float(rng.normal(-3.5 if y else -1.3, 0.3))} for k in range(5) for y in (0, 1, 1)]
    held = nested_stacking(rows)
    changed = [dict(r, cnn_logit=50.0 if r["label"] == 0 else -50.0) if r["clip"] == "c0" else r for r in rows]
    again = nested_stacking(changed)
    assert held["models"]["c0"] == again["models"]["c0"]  # c0's own rows do not move its model
    assert held["models"]["c1"] != again["models"]["c1"]  # but they do move the others'
    model = fit_stacking(rows)
    assert model.cnn > 0 and model.texture < 0
    missing = model.combine(np.array([0.0]), None)[0]
    assert missing == pytest.approx(model.bias + model.texture * model.texture_fill)
    with pytest.raises(ValueError, match="both classes"):
        fit_stacking([r for r in rows if r["label"] == 1])


def test_tied_weights_count_each_cue_in_its_own_units_and_keep_the_cue_when_the_cnn_was_never_wrong():
    rng = np.random.default_rng(1)
    # Six clips on which the CNN never errs (wide margins) and the cue is good but overlapping …
    rows = [{"clip": f"c{k}", "label": y, "cnn_logit": float(rng.normal(6 * y - 3, 1)),
             "texture": float(rng.normal(-3.0 if y else -1.6, 0.9))} for k in range(6) for y in (0, 1, 1)]
    # … and a real clip the CNN gets wrong, whose background is clearly live.
    fooled = {"clip": "x", "label": 0, "cnn_logit": 6.0, "texture": -1.4}
    twin = {"clip": "x", "label": 1, "cnn_logit": 3.0, "texture": -2.6}
    cnn = np.array([r["cnn_logit"] for r in rows])
    texture = np.array([r["texture"] for r in rows])
    tied = fit_stacking(rows)
    assert tied.cnn * cnn.std() == pytest.approx(-tied.texture * texture.std())  # equal standardised weights
    free = fit_stacking(rows, form="free")
    assert free.cnn * cnn.std() > -free.texture * texture.std()  # free: the never-wrong CNN dominates …
    score = lambda m, r: float(m.combine(np.array([r["cnn_logit"]]), r["texture"])[0])  # noqa: E731
    assert score(free, fooled) > score(free, twin)  # … so the fooled real clip outranks a twin
    assert score(tied, fooled) < score(tied, twin)  # tied: the live background keeps it below
    held = nested_stacking([*rows, fooled, twin], form="free")
    assert held["models"]["x"] == fit_stacking(rows, form="free")
    with pytest.raises(ValueError, match="unknown stacking form"):
        fit_stacking(rows, form="median")


def test_the_combined_card_keeps_its_hash_check_and_refuses_a_broken_stack(tmp_path):
    card = {**json.loads(DEFAULT_CARD.read_text()), "stacking": COMBINED}
    shutil.copy(DEFAULT_CARD.parent / card["file"], tmp_path / card["file"])
    (tmp_path / "card.json").write_text(json.dumps(card))
    loaded = Classifier.load(tmp_path / "card.json")
    assert loaded.card.stacking == Stacking.from_dict(card["stacking"])
    broken = dict(card, stacking={"bias": 1.0})
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    with pytest.raises(ModelError, match="malformed"):
        Classifier.load(tmp_path / "broken.json")
    blob = bytearray((tmp_path / card["file"]).read_bytes())
    blob[-1] ^= 1
    (tmp_path / card["file"]).write_bytes(bytes(blob))
    with pytest.raises(ModelError, match="does not match its card"):
        Classifier.load(tmp_path / "card.json")


