"""`likeness faces compare A B [--json]` end to end, as an operator runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from face_factories import grace_hopper_path, landscape, mirrored
from onnx_factories import arcface_like
from PIL import Image

from faces import DLIB_CALIBRATION, DlibBackend
from faces._insightface import CARD_NAME

LIKENESS = str(Path(sys.executable).parent / "likeness")
KEYS = ["similarity", "threshold", "same_person", "backend", "model_version", "margin_to_threshold", "elapsed_ms"]


def likeness(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LIKENESS_")}
    full_env.update({"LIKENESS_DATA_DIR": str(tmp_path / "var"), **env})
    return subprocess.run([LIKENESS, *args], capture_output=True, text=True, env=full_env, timeout=300, check=False)


def save(image: np.ndarray, path: Path, **options: object) -> Path:
    Image.fromarray(image).save(path, **options)
    return path


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory, grace_hopper: np.ndarray) -> Path:
    """Grace Hopper mirrored, brightened and recompressed."""
    changed = np.clip(mirrored(grace_hopper).astype(np.float32) * 1.25, 0, 255).astype(np.uint8)
    return save(changed, tmp_path_factory.mktemp("cli") / "hopper-variant.jpg", quality=60)


def test_same_person_as_json(tmp_path, variant):
    done = likeness(tmp_path, "faces", "compare", str(grace_hopper_path()), str(variant), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert list(result) == KEYS
    assert result["same_person"] is True and result["threshold"] == DLIB_CALIBRATION.threshold
    assert result["similarity"] >= result["threshold"]
    assert result["margin_to_threshold"] == pytest.approx(result["similarity"] - result["threshold"], abs=1e-5)
    assert result["backend"] == "dlib" and result["model_version"] == DlibBackend.model_version
    assert len(done.stdout) < 1000  # the embeddings are not in it


def test_same_person_as_text(tmp_path, variant):
    done = likeness(tmp_path, "faces", "compare", str(grace_hopper_path()), str(variant))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "same person: yes"
    assert f"threshold {DLIB_CALIBRATION.threshold:.3f}" in done.stdout and "backend: dlib" in done.stdout


@pytest.mark.shared_data
def test_different_people(tmp_path, portraits):
    done = likeness(tmp_path, "faces", "compare", str(grace_hopper_path()), str(portraits / "st_sad1.png"), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["same_person"] is False and result["margin_to_threshold"] < 0


@pytest.mark.parametrize(("case", "message"), [
    ("no face", "no face found"),
    ("two faces", "2 faces found"),
    ("not an image", "not a recognised media file"),
    ("missing", "no such file"),
])
def test_refused_input_is_one_line_and_exit_2(tmp_path, grace_hopper, case, message):
    path = tmp_path / "b.png"
    if case == "no face":
        save(landscape(), path)
    elif case == "two faces":
        save(np.concatenate([grace_hopper, grace_hopper], axis=1), path)
    elif case == "not an image":
        path.write_text("hello, I am not a picture\n")
    done = likeness(tmp_path, "faces", "compare", str(grace_hopper_path()), str(path), "--json")
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], done.stderr
    assert str(path) in lines[0]


def test_insightface_backend_from_settings(tmp_path, variant):
    models = tmp_path / "models"
    arcface_like(models / "w_test.onnx")
    env = {"LIKENESS_IDENTITY_BACKEND": "insightface", "LIKENESS_INSIGHTFACE_MODEL_DIR": str(models)}
    uncalibrated = likeness(tmp_path, "faces", "compare", str(grace_hopper_path()), str(variant), **env)
    assert uncalibrated.returncode == 1 and "no calibrated threshold" in uncalibrated.stderr
    assert len(uncalibrated.stderr.strip().splitlines()) == 1

    from faces import InsightFaceBackend
    from faces._insightface import write_card

    write_card(InsightFaceBackend(models), threshold=0.5, min_margin=0.05, provenance="test")
    assert (models / CARD_NAME).is_file()
    done = likeness(tmp_path, "faces", "compare", str(grace_hopper_path()), str(variant), "--json", **env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["backend"] == "insightface" and result["threshold"] == 0.5
    assert result["model_version"].startswith("w_test.onnx:")


def test_a_missing_model_directory_is_an_operator_error(tmp_path, variant):
    env = {"LIKENESS_IDENTITY_BACKEND": "insightface", "LIKENESS_INSIGHTFACE_MODEL_DIR": str(tmp_path / "none")}
    done = likeness(tmp_path, "faces", "compare", str(grace_hopper_path()), str(variant), **env)
    assert done.returncode == 1
    assert done.stderr.startswith("error: the insightface model directory") and "Traceback" not in done.stderr
    unknown = likeness(tmp_path, "faces", "compare", str(grace_hopper_path()), str(variant),
                       LIKENESS_IDENTITY_BACKEND="arcface")
    assert unknown.returncode == 2 and "LIKENESS_IDENTITY_BACKEND" in unknown.stderr
