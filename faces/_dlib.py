"""The default identity backend: dlib's ResNet 128-d face descriptor and its 5-point aligner, offline.

>>> from faces._dlib import DlibBackend
>>> backend = DlibBackend()                           # checks the files are there; loads on first use
>>> backend.name, backend.dim, backend.calibration.threshold == DLIB_CALIBRATION.threshold
('dlib', 128, True)

The weights come from the ``face-recognition-models`` package (public domain / CC0, Davis King).
Its ``__init__`` imports ``pkg_resources``, which modern setuptools no longer has, so the files
are found with :func:`importlib.util.find_spec` and the package is never imported. Only two files
are read, and only after their sha256 matches the pinned value: the 5-point shape predictor and
the ResNet recogniser. The package's 68-point predictor is trained on iBUG 300-W, whose licence
excludes commercial use: it is never loaded.

The face is the one MediaPipe found (:func:`faces.find_face`), not dlib's HOG detector, so every
part of Likeness agrees on where the face is. Its landmark box is mapped onto the box dlib's HOG
detector would draw (:func:`dlib_rectangle`, fitted on real faces: the HOG box starts lower, at the
brows, and ends above the chin), the 5-point model places the eye corners and the nose base in it,
and ``compute_face_descriptor`` aligns a 150² chip on them and runs the ResNet (~100 ms on a CPU).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from faces.errors import FaceBackendError, IdentityModelError
from faces.identity import Calibration, cosine, normalised
from faces.landmarks import FaceLandmarks, as_rgb
from media import file_sha256

logger = logging.getLogger(__name__)

SHAPE_PREDICTOR = "shape_predictor_5_face_landmarks.dat"
RECOGNISER = "dlib_face_recognition_resnet_model_v1.dat"
# sha256 of the files in face-recognition-models 0.3.0 (checked before either is loaded).
PINNED_SHA256 = {
    SHAPE_PREDICTOR: "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    RECOGNISER: "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
}
MODEL_VERSION = f"{RECOGNISER}:{PINNED_SHA256[RECOGNISER][:12]}+{SHAPE_PREDICTOR}:{PINNED_SHA256[SHAPE_PREDICTOR][:12]}"

# The calibrated decision (docs/identity.md). Measured 2026-11-25 on this project's CI kind of
# machine with `.venv/bin/python bench/identity_calibration.py` over ../shared/data: 30 frames of
# each of the 7 clips (genuine: frames of one clip; impostor: frames of different clips), the 9
# portraits and Grace Hopper (impostors among them and against every frame; genuine: each against
# its own mirrored, brightened, darkened, recompressed, downscaled and rotated copies).
# Threshold: the highest impostor score (0.9471) plus a 0.01 guard, rounded up; EER 0.45 % at
# 0.938; at 0.958 FAR 0 of 37 737 impostor pairs (136 pairs of identities), FRR 10.5 % per frame
# pair and 0 of 189 per probe against three enrolment frames. Margin: no genuine probe came
# within 0.028 of another enrolled person; half of that, floored at 0.02.
DLIB_THRESHOLD = 0.958
DLIB_MIN_MARGIN = 0.02
DLIB_CALIBRATION = Calibration(
    threshold=DLIB_THRESHOLD,
    min_margin=DLIB_MIN_MARGIN,
    model_version=MODEL_VERSION,
    provenance="2026-11-25, bench/identity_calibration.py on ../shared/data (clips and portraits); docs/identity.md",
)

# dlib's HOG box relative to MediaPipe's landmark box (x0, y0, x1, y1) as fractions of its width and
# height: the mean over 31 real faces (Grace Hopper, the 9 portraits, 3 frames of each clip).
_HOG_BOX = (-0.03, 0.07, 1.02, 0.95)

_LOAD_LOCK = threading.Lock()
_loaded: dict[Path, tuple[Any, Any, threading.Lock]] = {}


def models_dir() -> Path:
    """The ``models`` folder of the installed ``face-recognition-models`` package (found, never imported)."""
    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        raise IdentityModelError(
            "the dlib identity backend needs the face-recognition-models package (pip install "
            "face-recognition-models==0.3.0), which holds its model files"
        )
    return Path(spec.origin).parent / "models"


def dlib_rectangle(face: FaceLandmarks) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the box dlib's HOG detector would draw around ``face``."""
    x0, y0, x1, y1 = face.bbox
    width, height = x1 - x0, y1 - y0
    fx0, fy0, fx1, fy1 = _HOG_BOX
    return (round(x0 + fx0 * width), round(y0 + fy0 * height), round(x0 + fx1 * width), round(y0 + fy1 * height))


class DlibBackend:
    """dlib's ResNet descriptor (128-d) on MediaPipe's face, aligned by dlib's 5-point model.

    The models load on the first :meth:`embed`, once per process (shared by every instance), after
    their hashes are checked; a network is not re-entrant, so embeddings are computed one at a time.
    """

    name = "dlib"
    dim = 128
    model_version = MODEL_VERSION

    def __init__(self, *, models: Path | str | None = None, calibration: Calibration | None = None) -> None:
        self.models = Path(models) if models is not None else models_dir()
        self.calibration: Calibration | None = calibration if calibration is not None else DLIB_CALIBRATION
        missing = [name for name in PINNED_SHA256 if not (self.models / name).is_file()]
        if missing:
            raise IdentityModelError(
                f"the dlib identity model files {', '.join(missing)} are missing from {self.models}: "
                "reinstall face-recognition-models==0.3.0"
            )

    def __repr__(self) -> str:
        return f"DlibBackend(models={str(self.models)!r})"

    def _models(self) -> tuple[Any, Any, threading.Lock]:
        key = self.models.resolve()
        with _LOAD_LOCK:
            if key not in _loaded:
                _loaded[key] = _load(key)
            return _loaded[key]

    def embed(self, rgb: np.ndarray, face: FaceLandmarks) -> np.ndarray:
        """The L2-normalised 128-d descriptor of ``face`` in ``rgb``."""
        import dlib

        image = as_rgb(rgb, what="portrait")
        predictor, recogniser, lock = self._models()
        left, top, right, bottom = dlib_rectangle(face)
        try:
            with lock:
                shape = predictor(image, dlib.rectangle(left, top, right, bottom))
                descriptor = recogniser.compute_face_descriptor(image, shape)
        except RuntimeError as exc:
            raise FaceBackendError(f"dlib failed on the face: {exc}") from exc
        return normalised(np.asarray(descriptor))

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return cosine(a, b)


def _load(folder: Path) -> tuple[Any, Any, threading.Lock]:
    for name, expected in PINNED_SHA256.items():
        actual = file_sha256(folder / name)
        if actual != expected:
            raise IdentityModelError(
                f"{folder / name} has sha256 {actual[:16]}…, not the pinned {expected[:16]}…: the model file is "
                "altered or from another release; reinstall face-recognition-models==0.3.0"
            )
    try:
        import dlib
    except ImportError as exc:
        raise IdentityModelError(f"the dlib identity backend needs dlib (pip install dlib-bin): {exc}") from exc
    started = time.perf_counter()
    try:
        predictor = dlib.shape_predictor(str(folder / SHAPE_PREDICTOR))
        recogniser = dlib.face_recognition_model_v1(str(folder / RECOGNISER))
    except RuntimeError as exc:
        raise IdentityModelError(f"dlib could not load its models from {folder}: {exc}") from exc
    logger.info("dlib identity models loaded in %.0f ms", 1000 * (time.perf_counter() - started))
    return predictor, recogniser, threading.Lock()
