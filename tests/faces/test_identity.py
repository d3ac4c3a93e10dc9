"""Identity embeddings (dlib) and the calibrated match, on real faces only."""

from __future__ import annotations

import doctest
import importlib
import logging
import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from face_factories import SHARED_PORTRAITS, mirrored

import faces
from faces import (
    DLIB_CALIBRATION,
    Calibration,
    DlibBackend,
    Embedding,
    FaceError,
    IdentityBackend,
    IdentityModelError,
    MultipleFacesError,
    NoFaceError,
    _dlib,
    compare_faces,
    embed_face,
    find_face,
    get_identity_backend,
    match,
    mesh,
)
from media import iter_frames, probe_video, read_image


@pytest.fixture(scope="module")
def hopper(grace_hopper: np.ndarray, dlib_backend: DlibBackend) -> Embedding:
    return embed_face(grace_hopper, backend=dlib_backend)


def brightened(image: np.ndarray, factor: float = 1.4) -> np.ndarray:
    return np.clip(image.astype(np.float32) * factor, 0, 255).astype(np.uint8)


def recompressed(image: np.ndarray, quality: int = 30) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1])


def clip_frames(path: Path, count: int) -> list[np.ndarray]:
    every = max(1, probe_video(path).frame_count // count)
    return list(iter_frames(path, every=every, max_frames=count))


# --- the backend----------------------------------------------------------------------------


def test_dlib_backend_is_the_default_and_meets_the_protocol(dlib_backend, hopper):
    chosen = get_identity_backend()
    assert isinstance(chosen, DlibBackend) and isinstance(chosen, IdentityBackend)
    assert dlib_backend.name == "dlib" and dlib_backend.dim == 128
    assert dlib_backend.model_version == (
        "dlib_face_recognition_resnet_model_v1.dat:55533b28a958+shape_predictor_5_face_landmarks.dat:c4b1e9804792"
    )
    assert dlib_backend.calibration is DLIB_CALIBRATION
    assert DLIB_CALIBRATION.model_version == dlib_backend.model_version and "bench/identity_calibration.py" in (
        DLIB_CALIBRATION.provenance)
    vector = hopper.vector
    assert vector.dtype == np.float32 and vector.shape == (128,)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
    assert not vector.flags.writeable


def test_embedding_is_deterministic_and_similarity_is_cosine(dlib_backend, grace_hopper, grace_hopper_face, hopper):
    again = dlib_backend.embed(grace_hopper, grace_hopper_face)
    assert np.allclose(again, hopper.vector, atol=1e-6)
    assert dlib_backend.similarity(again, hopper.vector) == pytest.approx(1.0, abs=1e-6)
    other = dlib_backend.embed(mirrored(grace_hopper), find_face(mirrored(grace_hopper)))
    assert dlib_backend.similarity(hopper.vector, other) == pytest.approx(float(hopper.vector @ other), abs=1e-6)


def test_the_five_point_model_finds_eye_corners_and_nose_in_the_mediapipe_box(dlib_backend, grace_hopper,
                                                                             grace_hopper_face):
    import dlib

    predictor, _, _ = dlib_backend._models()
    shape = predictor(grace_hopper, dlib.rectangle(*_dlib.dlib_rectangle(grace_hopper_face)))
    points = np.array([[p.x, p.y] for p in shape.parts()], np.float64)
    # dlib's 5 points: the subject's left eye outer and inner corner, right eye outer and inner, nose base.
    expected = grace_hopper_face.xy[[263, 362, 33, 133, mesh.SUBNASALE]]
    error = np.linalg.norm(points - expected, axis=1) / mesh.interocular(grace_hopper_face)
    assert error.max() < 0.12, error


def test_only_the_two_public_domain_model_files_are_used(dlib_backend):
    assert set(_dlib.PINNED_SHA256) == {
        "shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat"}
    source = Path(_dlib.__file__).read_text()
    assert "68_face_landmarks" not in source.replace("68-point", "")  # never named, so never loaded


def test_a_model_file_with_the_wrong_hash_is_refused(tmp_path, dlib_backend, grace_hopper, grace_hopper_face):
    models = tmp_path / "models"
    models.mkdir()
    real = _dlib.models_dir()
    (models / _dlib.RECOGNISER).symlink_to(real / _dlib.RECOGNISER)
    tampered = bytearray((real / _dlib.SHAPE_PREDICTOR).read_bytes())
    tampered[1000] ^= 0xFF
    (models / _dlib.SHAPE_PREDICTOR).write_bytes(bytes(tampered))
    altered = DlibBackend(models=models)  # files are there: loading is lazy
    with pytest.raises(IdentityModelError, match="sha256") as caught:
        altered.embed(grace_hopper, grace_hopper_face)
    assert "shape_predictor_5_face_landmarks.dat" in str(caught.value) and "reinstall" in str(caught.value)


def test_missing_model_files_are_a_clear_error(tmp_path):
    shutil.copy(_dlib.models_dir() / _dlib.SHAPE_PREDICTOR, tmp_path / _dlib.SHAPE_PREDICTOR)
    with pytest.raises(IdentityModelError, match=r"dlib_face_recognition_resnet_model_v1\.dat are missing"):
        DlibBackend(models=tmp_path)


def test_backends_are_chosen_by_name_never_swapped():
    with pytest.raises(IdentityModelError, match="LIKENESS_INSIGHTFACE_MODEL_DIR"):
        get_identity_backend("insightface")
    with pytest.raises(IdentityModelError, match="unknown identity backend 'arcface'"):
        get_identity_backend("arcface")
    assert IdentityModelError.exit_code == 1 and issubclass(IdentityModelError, faces.FaceBackendError)


def test_embedding_from_several_threads_gives_the_same_vectors(dlib_backend, grace_hopper, grace_hopper_face, hopper):
    flipped = mirrored(grace_hopper)
    flipped_face = find_face(flipped)
    expected = dlib_backend.embed(flipped, flipped_face)
    results: list[tuple[int, np.ndarray]] = []
    failures: list[BaseException] = []

    def work(index: int) -> None:
        try:
            image, face = (grace_hopper, grace_hopper_face) if index % 2 == 0 else (flipped, flipped_face)
            results.append((index, dlib_backend.embed(image, face)))
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    for index, vector in results:
        assert np.allclose(vector, hopper.vector if index % 2 == 0 else expected, atol=1e-6)


# --- same person, different person -----------------------------------------------------------


@pytest.mark.parametrize("change", ["mirrored", "brightened", "darkened", "recompressed", "downscaled"])
def test_grace_hopper_matches_her_own_changed_portrait(dlib_backend, grace_hopper, hopper, change):
    changed = {
        "mirrored": lambda im: mirrored(im),
        "brightened": lambda im: brightened(im, 1.4),
        "darkened": lambda im: brightened(im, 0.6),
        "recompressed": lambda im: recompressed(im, 30),
        "downscaled": lambda im: np.ascontiguousarray(cv2.resize(im, None, fx=0.6, fy=0.6,
                                                                interpolation=cv2.INTER_AREA)),
    }[change](grace_hopper)
    result = match(embed_face(changed, backend=dlib_backend), reference=[hopper])
    assert result.same_person, result.reason
    assert result.similarity > 0.98 and result.threshold == DLIB_CALIBRATION.threshold
    assert result.margin is None and not result.ambiguous
    assert "matches the reference" in result.reason


@pytest.mark.shared_data
def test_any_two_frames_of_a_steady_clip_are_the_same_person(dlib_backend, clips):
    embeddings = [embed_face(frame, backend=dlib_backend) for frame in clip_frames(clips / "lp_d0.mp4", 8)]
    for i, probe in enumerate(embeddings):
        for reference in embeddings[i + 1:]:
            result = match(probe, reference=[reference])
            assert result.same_person, result.reason


@pytest.mark.shared_data
def test_frames_through_head_turns_match_three_enrolment_frames(dlib_backend, clips):
    # lp_d3 turns the head by about ±20° while talking. As calibrated (docs/identity.md): a single pair of
    # frames fails the threshold about one time in ten, the best of three enrolment frames never does.
    frames = clip_frames(clips / "lp_d3.mp4", 30)
    embeddings = [embed_face(frame, backend=dlib_backend) for frame in frames]
    enrolled = {0, len(embeddings) // 2, len(embeddings) - 1}
    reference = [embeddings[i] for i in sorted(enrolled)]
    results = [match(e, reference=reference) for i, e in enumerate(embeddings) if i not in enrolled]
    assert all(r.same_person for r in results), [r.reason for r in results if not r.same_person]
    yaws = [faces.head_pose(find_face(frame))[0] for frame in frames]
    assert max(yaws) - min(yaws) > 30


@pytest.mark.shared_data
def test_frames_of_different_clips_are_different_people(dlib_backend, clips):
    people = {name: [embed_face(f, backend=dlib_backend) for f in clip_frames(clips / f"{name}.mp4", 4)]
              for name in ("lp_d0", "lp_d12", "lp_d6", "lp_d10")}
    for name, embeddings in people.items():
        for other, their in people.items():
            if other == name:
                continue
            for probe in their:
                result = match(probe, reference=embeddings)
                assert not result.same_person, (name, other, result.reason)
                assert "does not match" in result.reason
    # lp_d0 and lp_d12 are the closest pair of different people in the calibration (docs/identity.md)
    closest = max(float(a.vector @ b.vector) for a in people["lp_d0"] for b in people["lp_d12"])
    assert closest < DLIB_CALIBRATION.threshold


@pytest.mark.shared_data
def test_each_shared_portrait_matches_itself_and_no_other(dlib_backend, portraits, grace_hopper, hopper):
    embeddings = {"grace_hopper": hopper}
    for name in SHARED_PORTRAITS:
        image = read_image(portraits / name)
        embeddings[name] = embed_face(image, backend=dlib_backend)
        own = match(embed_face(recompressed(brightened(mirrored(image), 1.2)), backend=dlib_backend),
                    reference=[embeddings[name]])
        assert own.same_person, (name, own.reason)
    names = list(embeddings)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            result = match(embeddings[a], reference=[embeddings[b]])
            assert not result.same_person, (a, b, result.similarity)


# --- the decision -----------------------------------------------------------------------------


def test_a_match_is_ambiguous_when_another_enrolled_person_comes_close(dlib_backend, grace_hopper, hopper):
    probe = embed_face(brightened(grace_hopper, 1.3), backend=dlib_backend)
    lookalike = embed_face(mirrored(grace_hopper), backend=dlib_backend)  # "another person" with her face
    result = match(probe, reference=[hopper], others=[[lookalike]])
    assert result.similarity >= result.threshold
    assert result.ambiguous and not result.same_person
    assert result.margin is not None and result.margin < DLIB_CALIBRATION.min_margin
    assert result.reason.startswith("ambiguous") and "another enrolled person" in result.reason


@pytest.mark.shared_data
def test_a_clear_match_beats_every_other_enrolled_person(dlib_backend, grace_hopper, hopper, portraits):
    others = [[embed_face(read_image(portraits / name), backend=dlib_backend)] for name in SHARED_PORTRAITS[:4]]
    result = match(embed_face(mirrored(grace_hopper), backend=dlib_backend), reference=[hopper], others=others)
    assert result.same_person and not result.ambiguous, result.reason
    assert result.margin is not None and result.margin > 0.05
    assert "above any other enrolled person" in result.reason
    impostor = match(others[0][0], reference=[hopper], others=others[1:])
    assert not impostor.same_person and "does not match" in impostor.reason


def test_the_threshold_and_margin_are_inclusive_edges():
    calibration = Calibration(threshold=0.6, min_margin=0.1)
    probe = np.array([1.0, 0.0, 0.0])
    at = np.array([0.6, 0.8, 0.0])  # cosine 0.6 exactly
    below = np.array([0.59, np.sqrt(1 - 0.59**2), 0.0])
    assert match(probe, reference=[at], calibration=calibration).same_person
    assert not match(probe, reference=[below], calibration=calibration).same_person
    best_of = match(probe, reference=[below, at], calibration=calibration)
    assert best_of.same_person and best_of.similarity == pytest.approx(0.6)
    rival = np.array([0.45, np.sqrt(1 - 0.45**2), 0.0])  # margin 0.15: clear
    close = np.array([0.55, np.sqrt(1 - 0.55**2), 0.0])  # margin 0.05: ambiguous
    assert match(probe, reference=[at], others=[[rival]], calibration=calibration).same_person
    assert match(probe, reference=[at], others=[[close, rival]], calibration=calibration).ambiguous


def test_no_reference_denies(hopper):
    result = match(hopper, reference=[])
    assert not result.same_person and "no reference" in result.reason


def test_embeddings_of_different_models_are_refused(hopper):
    foreign = Embedding(hopper.vector, backend="insightface", model_version="w600k_r50.onnx:0123456789ab")
    with pytest.raises(IdentityModelError, match="different models"):
        match(foreign, reference=[hopper])
    with pytest.raises(IdentityModelError, match="different models"):
        match(foreign, reference=[foreign])  # the dlib calibration does not apply to it
    with pytest.raises(IdentityModelError, match="different lengths"):
        match(np.ones(512), reference=[np.ones(128)], calibration=Calibration(threshold=0.5, min_margin=0.0))
    with pytest.raises(FaceError, match="degenerate"):
        match(np.zeros(128), reference=[hopper.vector])


def test_compare_faces_gives_the_calibrated_decision_and_names_the_bad_image(dlib_backend, grace_hopper):
    same = compare_faces(grace_hopper, recompressed(mirrored(grace_hopper)), backend=dlib_backend)
    assert same.same_person and same.threshold == DLIB_CALIBRATION.threshold
    assert same.margin_to_threshold == pytest.approx(same.similarity - same.threshold)
    record = same.to_dict()
    assert list(record)[:3] == ["similarity", "threshold", "same_person"]
    assert record["backend"] == "dlib" and record["model_version"] == dlib_backend.model_version
    assert record["elapsed_ms"] > 0
    blank = np.full((300, 300, 3), 128, np.uint8)
    with pytest.raises(NoFaceError, match=r"^b\.png: no face found"):
        compare_faces(grace_hopper, blank, backend=dlib_backend, labels=("a.jpg", "b.png"))
    with pytest.raises(MultipleFacesError, match=r"^a\.jpg: 2 faces found"):
        compare_faces(np.concatenate([grace_hopper, grace_hopper], axis=1), grace_hopper, backend=dlib_backend,
                      labels=("a.jpg", "b.png"))


# --- privacy ----------------------------------------------------------------------------------


def test_embeddings_are_never_shown_or_logged(dlib_backend, grace_hopper, hopper, caplog):
    text = repr(hopper) + str(hopper)
    assert "dim=128" in text
    digits = [f"{v:.4f}" for v in hopper.vector[:8]] + [f"{v:.3f}" for v in hopper.vector[:8]]
    assert not any(d in text for d in digits)
    caplog.set_level(logging.DEBUG)
    probe = embed_face(mirrored(grace_hopper), backend=dlib_backend)
    result = match(probe, reference=[hopper])
    comparison = compare_faces(grace_hopper, mirrored(grace_hopper), backend=dlib_backend)
    logged = caplog.text + repr(result) + repr(comparison) + str(result.to_dict()) + str(comparison.to_dict())
    for vector in (hopper.vector, probe.vector):
        assert not any(f"{v:.4f}" in logged for v in vector[:16] if abs(v) > 0.01)
    assert "array(" not in logged


@pytest.mark.parametrize("name", ["faces.identity", "faces._align", "faces._dlib"])
def test_docstring_examples(name):
    module = importlib.import_module(name)
    assert ">>>" in (module.__doc__ or "")
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0
