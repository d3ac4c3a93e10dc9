"""The insightface backend: loading an operator's ArcFace-style ONNX model, built here with onnx.helper.

The models have random weights (no pretrained pack is used or downloaded); what is tested is the
contract: routing by shape, alignment, normalisation, NCHW RGB input, the provider really used,
the model card, and precise errors for a missing or unusable model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from face_factories import mirrored
from onnx_factories import arcface_like, scrfd_like

from faces import (
    Calibration,
    IdentityBackend,
    IdentityModelError,
    InsightFaceBackend,
    compare_faces,
    embed_face,
    get_identity_backend,
    match,
)
from faces._align import ARCFACE_TEMPLATE, align_arcface, five_keypoints, similarity_transform, template_for
from faces._insightface import CARD_NAME, write_card


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("arcface")
    arcface_like(folder / "w_test.onnx")
    scrfd_like(folder / "det_test.onnx")  # a detector beside it is recognised and left unused
    return folder


@pytest.fixture(scope="module")
def backend(model_dir: Path) -> InsightFaceBackend:
    return InsightFaceBackend(model_dir)


def test_loads_the_recognition_model_and_records_the_provider(backend, model_dir):
    assert isinstance(backend, IdentityBackend)
    assert backend.name == "insightface"
    assert backend.model_path == model_dir / "w_test.onnx"
    assert backend.provider == "CPUExecutionProvider"
    assert backend.input_size == 112 and backend.dim == 512
    assert backend.model_version == f"w_test.onnx:{backend.sha256[:12]}" and len(backend.sha256) == 64
    assert backend.calibration is None  # no card: it embeds, but does not decide
    assert "provider='CPUExecutionProvider'" in repr(backend)


def test_chosen_by_settings_name(model_dir):
    chosen = get_identity_backend("insightface", model_dir=model_dir, providers=["CPUExecutionProvider"])
    assert isinstance(chosen, InsightFaceBackend) and chosen.provider == "CPUExecutionProvider"


def test_preprocess_is_the_aligned_crop_normalised_nchw_rgb(backend, grace_hopper, grace_hopper_face):
    blob = backend.preprocess(grace_hopper, grace_hopper_face)
    assert blob.shape == (1, 3, 112, 112) and blob.dtype == np.float32 and blob.flags.c_contiguous
    crop = align_arcface(grace_hopper, keypoints=five_keypoints(grace_hopper_face), size=112)
    assert np.allclose(blob[0], (crop.astype(np.float32).transpose(2, 0, 1) - 127.5) / 127.5)
    assert -1.0 <= blob.min() < -0.5 and 0.5 < blob.max() <= 1.0
    reddened = np.array(grace_hopper)
    reddened[..., 0] = 255  # channel 0 of the blob is red
    assert np.allclose(backend.preprocess(reddened, grace_hopper_face)[0, 0, 40:80, 40:80], 1.0)


def test_the_aligned_crop_puts_the_keypoints_on_the_arcface_template(grace_hopper, grace_hopper_face):
    keypoints = five_keypoints(grace_hopper_face)
    assert keypoints[0, 0] < keypoints[1, 0] and keypoints[3, 0] < keypoints[4, 0]  # image order, left first
    matrix = similarity_transform(keypoints, target=ARCFACE_TEMPLATE)
    mapped = keypoints @ matrix[:, :2].T + matrix[:, 2]
    assert np.abs(mapped - ARCFACE_TEMPLATE).max() < 4.0  # a real face is not exactly the template (px of 112)
    from skimage.transform import SimilarityTransform

    reference = SimilarityTransform.from_estimate(keypoints, template_for(112))
    assert np.allclose(matrix, reference.params[:2], atol=1e-8)


@pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")  # inside insightface 2.1
def test_embeddings_match_insightface_own_arcface_pipeline(backend, model_dir, grace_hopper, grace_hopper_face):
    pytest.importorskip("insightface")
    from insightface.app.common import Face
    from insightface.model_zoo import get_model

    theirs = get_model(str(model_dir / "w_test.onnx"), providers=["CPUExecutionProvider"])
    assert type(theirs).__name__ == "ArcFaceONNX" and theirs.input_mean == 127.5 and theirs.input_std == 127.5
    face = Face(kps=five_keypoints(grace_hopper_face).astype(np.float32))
    expected = theirs.get(np.ascontiguousarray(grace_hopper[:, :, ::-1]), face)  # insightface takes BGR
    ours = backend.embed(grace_hopper, grace_hopper_face)
    assert ours.dtype == np.float32 and ours.shape == (512,)
    assert abs(float(np.linalg.norm(ours)) - 1.0) < 1e-5
    assert float(ours @ (expected / np.linalg.norm(expected))) > 0.999


def test_self_normalising_models_get_raw_pixels(tmp_path, grace_hopper, grace_hopper_face):
    arcface_like(tmp_path / "mx.onnx", self_normalising=True)
    backend = InsightFaceBackend(tmp_path)
    assert (backend.mean, backend.std) == (0.0, 1.0)
    blob = backend.preprocess(grace_hopper, grace_hopper_face)
    assert blob.max() > 200 and blob.min() >= 0


def test_a_larger_input_is_aligned_at_its_size(tmp_path, grace_hopper, grace_hopper_face):
    arcface_like(tmp_path / "big.onnx", size=224, dim=256)
    backend = InsightFaceBackend(tmp_path / "big.onnx")  # a single file works too
    assert backend.input_size == 224 and backend.dim == 256
    assert backend.embed(grace_hopper, grace_hopper_face).shape == (256,)


def test_a_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(IdentityModelError, match=r"does not exist .*LIKENESS_INSIGHTFACE_MODEL_DIR"):
        InsightFaceBackend(tmp_path / "nowhere")


def test_a_directory_without_models_is_a_clear_error(tmp_path):
    (tmp_path / "README.txt").write_text("models go here")
    with pytest.raises(IdentityModelError, match=r"no \.onnx model in"):
        InsightFaceBackend(tmp_path)


def test_an_invalid_model_file_is_a_clear_error(tmp_path):
    (tmp_path / "broken.onnx").write_bytes(b"this is not a protobuf" * 10)
    with pytest.raises(IdentityModelError, match=r"broken\.onnx is not a model onnxruntime can load"):
        InsightFaceBackend(tmp_path)


def test_a_model_with_the_wrong_output_shape_is_refused(tmp_path):
    arcface_like(tmp_path / "bad.onnx", output_shape=["N", 512, 1])
    with pytest.raises(IdentityModelError, match=r"outputs shape \[1, 512, 1\] for one face"):
        InsightFaceBackend(tmp_path)


def test_only_a_detector_is_not_enough(tmp_path):
    scrfd_like(tmp_path / "det.onnx")
    with pytest.raises(IdentityModelError, match=r"exactly one recognition model .* found 0"):
        InsightFaceBackend(tmp_path)


def test_two_recognition_models_are_ambiguous(tmp_path):
    arcface_like(tmp_path / "a.onnx")
    arcface_like(tmp_path / "b.onnx", seed=1)
    with pytest.raises(IdentityModelError, match=r"found 2: a\.onnx, b\.onnx"):
        InsightFaceBackend(tmp_path)


def test_an_unavailable_provider_is_refused_not_swapped(model_dir):
    with pytest.raises(IdentityModelError, match="not CUDAExecutionProvider"):
        InsightFaceBackend(model_dir, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])


def test_without_a_card_it_refuses_to_decide(backend, grace_hopper):
    with pytest.raises(IdentityModelError, match="no calibrated threshold"):
        compare_faces(grace_hopper, grace_hopper, backend=backend)


def test_the_model_card_calibrates_it_and_pins_the_model(tmp_path, grace_hopper):
    model = arcface_like(tmp_path / "w.onnx")
    card = write_card(InsightFaceBackend(tmp_path), threshold=0.9, min_margin=0.05, provenance="test")
    assert card == tmp_path / CARD_NAME
    backend = InsightFaceBackend(tmp_path)
    assert backend.calibration == Calibration(threshold=0.9, min_margin=0.05, model_version=backend.model_version,
                                              provenance="test")
    same = compare_faces(grace_hopper, mirrored(grace_hopper), backend=backend)
    assert same.backend == "insightface" and same.threshold == 0.9 and same.model_version == backend.model_version
    reference = embed_face(grace_hopper, backend=backend)
    assert reference.dim == 512 and "insightface" in repr(reference)
    with pytest.raises(IdentityModelError, match="different models"):
        match(reference, reference=[reference])  # the dlib calibration is not this model's
    assert match(reference, reference=[reference], calibration=backend.calibration).same_person

    arcface_like(model, seed=7)  # the operator swaps the weights without calibrating again
    with pytest.raises(IdentityModelError, match="changed since it was calibrated"):
        InsightFaceBackend(tmp_path)
    (tmp_path / CARD_NAME).write_text(json.dumps({"model": "w.onnx"}))
    with pytest.raises(IdentityModelError, match="not a valid model card"):
        InsightFaceBackend(tmp_path)
