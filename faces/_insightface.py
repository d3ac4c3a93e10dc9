"""The operator's identity model: an ArcFace-style ONNX recogniser run by onnxruntime.

    >>> from faces import InsightFaceBackend
    >>> backend = InsightFaceBackend("/srv/models/arcface")          # doctest: +SKIP
    >>> backend.model_version, backend.provider, backend.dim          # doctest: +SKIP
    ('w600k_r50.onnx:4c06341c33c2', 'CPUExecutionProvider', 512)

InsightFace's pretrained packs (buffalo_l, antelopev2, …) are licensed for non-commercial research
only, so Likeness ships no weights for this backend: the operator puts a recognition model they
are licensed to use in a local directory (``LIKENESS_INSIGHTFACE_MODEL_DIR``). Nothing is ever
downloaded. The contract is insightface's ``ArcFaceONNX`` (``model_zoo/arcface_onnx.py``):

- input ``[N, 3, S, S]`` float32, NCHW, RGB, S ≥ 112 and a multiple of 16 (112 normally);
- pixels normalised ``(x − 127.5) / 127.5``, except for old MXNet exports whose first nodes
  subtract and multiply themselves (a ``Sub`` and a ``Mul`` among the first 8 nodes): then raw;
- exactly one output ``[N, D]``; similarity is the cosine of two outputs;
- the face aligned first: a similarity transform of five keypoints (eye centres, nose,
  mouth corners) onto the ArcFace template (:mod:`faces._align`). The keypoints come from
  MediaPipe's landmarks, so detection is the same as for every other part of Likeness; SCRFD
  detectors and other models in the directory (landmark, attribute) are recognised and ignored.

Every ``*.onnx`` in the directory is opened and routed by shape as insightface's ``ModelRouter``
does; exactly one recognition model must be there. The execution providers come from settings
(``LIKENESS_INSIGHTFACE_PROVIDERS``); onnxruntime falls back to the CPU silently when CUDA is
missing, so the backend checks which provider really runs and refuses a silent fallback.

The directory may hold a model card, ``likeness-identity.json`` (written by
``bench/identity_calibration.py --write-card``)::

    {"model": "w600k_r50.onnx", "sha256": "…", "threshold": 0.31, "min_margin": 0.05,
     "provenance": "2026-…, bench/identity_calibration.py on …"}

The model's sha256 must then match; the card's threshold and margin are the backend's
calibration. Without a card the backend embeds, but refuses to decide (no calibrated threshold).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from faces._align import align_arcface, five_keypoints
from faces.errors import FaceBackendError, IdentityModelError
from faces.identity import Calibration, cosine, normalised
from faces.landmarks import FaceLandmarks, as_rgb
from media import file_sha256

logger = logging.getLogger(__name__)

CARD_NAME = "likeness-identity.json"
DEFAULT_PROVIDERS = ("CPUExecutionProvider",)
_MEAN, _STD = 127.5, 127.5


class InsightFaceBackend:
    """An ArcFace-style ONNX recognition model from ``model_dir`` (a directory, or one ``.onnx`` file).

    Loads at construction, so a missing or unusable model is an
    :class:`~faces.errors.IdentityModelError` straight away. ``provider`` is the execution
    provider onnxruntime really uses. onnxruntime sessions are safe to run from several threads.
    """

    name = "insightface"

    def __init__(self, model_dir: Path | str, *, providers: Sequence[str] | None = None) -> None:
        self.model_dir = Path(model_dir)
        requested = tuple(providers) if providers else DEFAULT_PROVIDERS
        ort = _onnxruntime()
        available = ort.get_available_providers()
        unknown = [p for p in requested if p not in available]
        if unknown:
            raise IdentityModelError(
                f"onnxruntime here offers {', '.join(available)}, not {', '.join(unknown)} "
                "(LIKENESS_INSIGHTFACE_PROVIDERS); on a GPU host install onnxruntime-gpu instead of onnxruntime"
            )
        path, session = _recognition_model(self.model_dir, providers=requested)
        self.model_path = path
        self.provider: str = session.get_providers()[0]
        if self.provider != requested[0]:
            raise IdentityModelError(
                f"asked onnxruntime for {requested[0]} but it runs {path.name} on {self.provider} "
                "(a missing CUDA/cuDNN falls back silently): fix the runtime or ask for "
                f"{self.provider} in LIKENESS_INSIGHTFACE_PROVIDERS"
            )
        model_input = session.get_inputs()[0]
        self.input_name: str = model_input.name
        self.input_size = int(model_input.shape[2])
        self.sha256 = file_sha256(path)
        self.model_version = f"{path.name}:{self.sha256[:12]}"
        self.mean, self.std = (0.0, 1.0) if _normalises_itself(path) else (_MEAN, _STD)
        self._session = session
        self.dim = self._check_output()
        self.calibration: Calibration | None = _read_card(self.model_dir, path=path, sha256=self.sha256,
                                                          model_version=self.model_version)
        logger.info("identity model %s on %s: input %d², %d-d output, %s", self.model_version, self.provider,
                    self.input_size, self.dim, "calibrated" if self.calibration else "not calibrated")

    def __repr__(self) -> str:
        return f"InsightFaceBackend(model_version={self.model_version!r}, provider={self.provider!r})"

    def preprocess(self, rgb: np.ndarray, face: FaceLandmarks) -> np.ndarray:
        """The model's input for ``face``: the aligned crop as a normalised ``[1, 3, S, S]`` float32 RGB blob."""
        crop = align_arcface(as_rgb(rgb, what="portrait"), keypoints=five_keypoints(face), size=self.input_size)
        blob = (crop.astype(np.float32) - np.float32(self.mean)) / np.float32(self.std)
        return np.ascontiguousarray(blob.transpose(2, 0, 1)[None])

    def embed(self, rgb: np.ndarray, face: FaceLandmarks) -> np.ndarray:
        """The L2-normalised embedding of ``face`` in ``rgb``."""
        output = self._run(self.preprocess(rgb, face))
        return normalised(output[0])

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return cosine(a, b)

    def _run(self, blob: np.ndarray) -> np.ndarray:
        try:
            (output,) = self._session.run(None, {self.input_name: blob})
        except Exception as exc:  # onnxruntime raises its own exception types
            raise FaceBackendError(f"the identity model {self.model_version} failed: {exc}") from exc
        return np.asarray(output)

    def _check_output(self) -> int:
        probe = np.zeros((1, 3, self.input_size, self.input_size), np.float32)
        output = self._run(probe)
        if output.ndim != 2 or output.shape[0] != 1 or output.shape[1] < 2:
            raise IdentityModelError(
                f"{self.model_path.name} outputs shape {list(output.shape)} for one face: an ArcFace-style "
                "recognition model outputs one embedding per face, [N, D]"
            )
        return int(output.shape[1])


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise IdentityModelError(f"the insightface identity backend needs onnxruntime: {exc}") from exc
    return onnxruntime


def _recognition_model(model_dir: Path, *, providers: Sequence[str]) -> tuple[Path, Any]:
    """The one recognition model in ``model_dir`` and its session; the others are named in the log."""
    if not model_dir.exists():
        raise IdentityModelError(
            f"the insightface model directory {model_dir} does not exist (LIKENESS_INSIGHTFACE_MODEL_DIR): "
            "put your licensed ArcFace-style ONNX recognition model there"
        )
    if model_dir.is_file():
        candidates = [model_dir]
    else:
        candidates = sorted(model_dir.glob("*.onnx"))
        if not candidates:
            raise IdentityModelError(f"no .onnx model in {model_dir}: put your ArcFace-style recognition model there")
    ort = _onnxruntime()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # onnxruntime's warnings go to stderr, bypassing logging
    found: list[tuple[Path, Any]] = []
    for path in candidates:
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=list(providers))
        except Exception as exc:  # onnxruntime's own exception types
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise IdentityModelError(f"{path} is not a model onnxruntime can load: {first_line}") from exc
        kind = _route(session)
        if kind == "recognition":
            logger.info("%s: a recognition model", path.name)
            found.append((path, session))
        else:
            logger.info("%s: a %s model, not used (MediaPipe finds the face and its keypoints)", path.name, kind)
    if len(found) != 1:
        names = ", ".join(p.name for p, _ in found) or "none"
        raise IdentityModelError(
            f"{model_dir} must hold exactly one recognition model (input [N, 3, S, S], S ≥ 112 and a multiple "
            f"of 16, float32; one output [N, D]); found {len(found)}: {names}"
        )
    return found[0]


def _route(session: Any) -> str:
    """What a model is, by its inputs and outputs, as insightface's ``ModelRouter`` decides."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(outputs) >= 5:
        return "detection"
    shape = inputs[0].shape
    if len(shape) != 4 or not all(isinstance(d, int) for d in shape[1:]):
        return "unknown"
    _, channels, height, width = shape
    if height == width == 192:
        return "landmark"
    if height == width == 96:
        return "attribute"
    if len(inputs) == 2 and height == width == 128:
        return "face swapper"
    if (channels == 3 and height == width and height >= 112 and height % 16 == 0 and len(inputs) == 1
            and len(outputs) == 1 and inputs[0].type == "tensor(float)"):
        return "recognition"
    return "unknown"


def _normalises_itself(path: Path) -> bool:
    """True for old MXNet exports that subtract the mean and scale inside the graph (insightface's rule)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    names = [node.name for node in graph.node[:8]]
    has_sub = any(name.startswith(("Sub", "_minus")) for name in names)
    has_mul = any(name.startswith(("Mul", "_mul")) for name in names)
    return has_sub and has_mul


def _read_card(model_dir: Path, *, path: Path, sha256: str, model_version: str) -> Calibration | None:
    card_path = (model_dir if model_dir.is_dir() else model_dir.parent) / CARD_NAME
    if not card_path.is_file():
        return None
    try:
        card = json.loads(card_path.read_text())
        model, expected = str(card["model"]), str(card["sha256"])
        threshold, min_margin = float(card["threshold"]), float(card["min_margin"])
        provenance = str(card.get("provenance", ""))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IdentityModelError(f"{card_path} is not a valid model card ({exc})") from exc
    if model != path.name or expected != sha256:
        raise IdentityModelError(
            f"{card_path} describes {model} with sha256 {expected[:16]}…, but the model is {path.name} with sha256 "
            f"{sha256[:16]}…: the model changed since it was calibrated; calibrate it again"
        )
    try:
        return Calibration(threshold=threshold, min_margin=min_margin, model_version=model_version,
                           provenance=provenance)
    except ValueError as exc:
        raise IdentityModelError(f"{card_path}: {exc}") from exc


def write_card(backend: InsightFaceBackend, *, threshold: float, min_margin: float, provenance: str) -> Path:
    """Write the model card that makes ``backend``'s model calibrated (used by the calibration bench)."""
    folder = backend.model_dir if backend.model_dir.is_dir() else backend.model_dir.parent
    card_path = folder / CARD_NAME
    card = {"model": backend.model_path.name, "sha256": backend.sha256, "threshold": round(threshold, 6),
            "min_margin": round(min_margin, 6), "provenance": provenance,
            "written": time.strftime("%Y-%m-%d")}
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    return card_path
