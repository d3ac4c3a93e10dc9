"""Identity: embed the face in a portrait, compare two faces, and decide whether a face is a given person.

>>> import matplotlib.cbook
>>> from faces import compare_faces, embed_face, get_identity_backend, match
>>> from media import read_image
>>> portrait = read_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
>>> backend = get_identity_backend("dlib")          # the default: offline, from packages
>>> reference = embed_face(portrait, backend=backend)
>>> reference                                        # the vector itself is never shown
Embedding(backend='dlib', model_version='dlib_face_recognition_resnet_model_v1.dat:55533b28a958+...', dim=128)
>>> probe = embed_face(portrait[:, ::-1].copy(), backend=backend)   # the same face, mirrored
>>> result = match(probe, reference=[reference], calibration=backend.calibration)
>>> result.same_person, result.similarity > result.threshold
(True, True)
>>> compare_faces(portrait, portrait[:, ::-1].copy(), backend=backend).same_person
True

An :class:`IdentityBackend` turns the face :func:`faces.find_face` found into an L2-normalised
``float32`` vector; cosine similarity (higher: more alike) compares two. The backends:

- ``dlib`` (:class:`~faces._dlib.DlibBackend`, the default): dlib's ResNet 128-d descriptor and its
  5-point aligner, from the ``face-recognition-models`` package (public-domain weights, hashes
  pinned). Its threshold and margin were calibrated on real faces (docs/identity.md).
- ``insightface`` (:class:`~faces._insightface.InsightFaceBackend`): an ArcFace-style ONNX model
  the operator brings (InsightFace's own packs are for non-commercial research only), run by
  onnxruntime; it is calibrated by the operator (``bench/identity_calibration.py --write-card``).

:func:`match` is the decision: the probe is the reference person only when its best similarity
to the reference reaches the calibrated threshold *and* beats every other enrolled person by the
calibrated margin. Decisions are values (:class:`MatchResult`) with a reason a person can read.
Embeddings are biometric data: their ``repr`` hides the numbers, and nothing here logs them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from faces.errors import FaceBackendError, FaceError, IdentityModelError
from faces.find import find_face
from faces.landmarks import FaceLandmarks, as_rgb

BACKENDS = ("dlib", "insightface")


@dataclass(frozen=True)
class Calibration:
    """Where a backend's decision lies: ``threshold`` on cosine similarity, ``min_margin`` over rivals.

    ``model_version`` names the model it was measured with (embeddings of another model are
    refused); ``provenance`` says when, on what data and with which command.
    """

    threshold: float
    min_margin: float
    model_version: str | None = None
    provenance: str = ""

    def __post_init__(self) -> None:
        if not -1.0 <= self.threshold <= 1.0:
            raise ValueError(f"a cosine threshold lies in [-1, 1], not {self.threshold}")
        if not 0.0 <= self.min_margin <= 2.0:
            raise ValueError(f"a cosine margin lies in [0, 2], not {self.min_margin}")


@runtime_checkable
class IdentityBackend(Protocol):
    """Turns one found face into an identity embedding.

    ``name`` is the backend's name in settings; ``model_version`` names the model file(s) with a
    sha256 prefix; ``dim`` is the embedding's length; ``calibration`` is ``None`` for a model
    nobody has calibrated (then :func:`match` and :func:`compare_faces` refuse to decide).
    ``embed`` returns an L2-normalised ``float32`` vector for ``face`` (found in ``rgb`` by
    :func:`faces.find_face`); ``similarity`` is the cosine of two such vectors. Implementations
    load their models once and are safe to call from several threads.
    """

    name: str
    model_version: str
    dim: int
    calibration: Calibration | None

    def embed(self, rgb: np.ndarray, face: FaceLandmarks) -> np.ndarray: ...

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float: ...


@dataclass(frozen=True, eq=False)
class Embedding:
    """One face's identity vector and the model that made it. The repr never shows the vector."""

    vector: np.ndarray = field(repr=False)
    backend: str
    model_version: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "vector", normalised(self.vector))

    def __repr__(self) -> str:
        return f"Embedding(backend={self.backend!r}, model_version={self.model_version!r}, dim={self.dim})"

    @property
    def dim(self) -> int:
        return int(self.vector.shape[0])


@dataclass(frozen=True)
class MatchResult:
    """The identity decision: ``same_person`` and why.

    ``similarity`` is the best cosine similarity to the reference person's embeddings;
    ``margin`` is how much it beats the best other enrolled person (``None`` when there are
    none); ``ambiguous`` says that another person comes within the calibrated margin.
    """

    similarity: float
    threshold: float
    same_person: bool
    margin: float | None
    ambiguous: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"similarity": round(self.similarity, 6), "threshold": self.threshold, "same_person": self.same_person,
                "margin": None if self.margin is None else round(self.margin, 6), "ambiguous": self.ambiguous,
                "reason": self.reason}


@dataclass(frozen=True)
class Comparison:
    """Two faces compared (``likeness faces compare``): the similarity and the calibrated decision."""

    similarity: float
    threshold: float
    same_person: bool
    backend: str
    model_version: str
    elapsed_ms: float

    @property
    def margin_to_threshold(self) -> float:
        """``similarity − threshold``: positive on the same-person side."""
        return self.similarity - self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {"similarity": round(self.similarity, 6), "threshold": self.threshold, "same_person": self.same_person,
                "backend": self.backend, "model_version": self.model_version,
                "margin_to_threshold": round(self.margin_to_threshold, 6), "elapsed_ms": round(self.elapsed_ms, 1)}


def normalised(vector: object) -> np.ndarray:
    """``vector`` as a read-only, L2-normalised, finite 1-D ``float32`` array."""
    array = np.array(vector, dtype=np.float64, copy=True)
    if array.ndim != 1 or array.shape[0] < 2:
        raise FaceError(f"an embedding is a 1-D vector, not an array of shape {array.shape}")
    norm = float(np.linalg.norm(array))
    if not np.isfinite(array).all() or norm < 1e-12:
        raise FaceError("the embedding is degenerate (not finite, or zero)")
    out = (array / norm).astype(np.float32)
    out.setflags(write=False)
    return out


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings of the same length, in [-1, 1]."""
    u, v = normalised(a), normalised(b)
    if u.shape != v.shape:
        raise IdentityModelError(f"embeddings of different lengths ({u.shape[0]} and {v.shape[0]}) cannot be compared")
    return float(np.clip(np.dot(u.astype(np.float64), v.astype(np.float64)), -1.0, 1.0))




def get_identity_backend(
    name: str = "dlib", *, model_dir: Path | str | None = None, providers: Sequence[str] | None = None
) -> IdentityBackend:
    """The identity backend named in settings (``LIKENESS_IDENTITY_BACKEND``); never a stand-in.

    ``insightface`` needs ``model_dir`` (``LIKENESS_INSIGHTFACE_MODEL_DIR``) and uses
    ``providers`` (onnxruntime execution providers, default CPU). Raises
    :class:`~faces.errors.IdentityModelError` for an unknown name or a missing or unusable model.
    """
    if name == "dlib":
        from faces._dlib import DlibBackend

        return DlibBackend()
    if name == "insightface":
        if model_dir is None or str(model_dir) == "":
            raise IdentityModelError(
                "the insightface identity backend needs a model directory: set LIKENESS_INSIGHTFACE_MODEL_DIR "
                "to the folder holding your licensed ArcFace-style ONNX recognition model"
            )
        from faces._insightface import InsightFaceBackend

        return InsightFaceBackend(model_dir, providers=providers)
    raise IdentityModelError(f"unknown identity backend {name!r}: choose one of {', '.join(BACKENDS)}")


def embed_face(
    rgb: np.ndarray, *, backend: IdentityBackend, face: FaceLandmarks | None = None, min_face_px: int = 96
) -> Embedding:
    """The identity embedding of the one face in ``rgb`` (found with :func:`faces.find_face` unless given)."""
    image = as_rgb(rgb, what="portrait")
    found = face if face is not None else find_face(image, min_face_px=min_face_px)
    return Embedding(backend.embed(image, found), backend=backend.name, model_version=backend.model_version)


def _vector(item: Embedding | np.ndarray, *, versions: set[str]) -> np.ndarray:
    if isinstance(item, Embedding):
        versions.add(item.model_version)
        return item.vector
    return normalised(item)


def match(
    probe: Embedding | np.ndarray,
    *,
    reference: Sequence[Embedding | np.ndarray],
    others: Sequence[Sequence[Embedding | np.ndarray]] = (),
    calibration: Calibration | None = None,
) -> MatchResult:
    """Is ``probe`` the person of ``reference`` (their enrolled embeddings), and clearly not one of ``others``?

    ``others`` holds the embeddings of every other enrolled person, one list each.
    ``calibration`` defaults to the dlib backend's (:data:`faces.DLIB_CALIBRATION`): pass
    ``backend.calibration`` for any other backend. Embeddings of different models (or lengths)
    are refused with :class:`~faces.errors.IdentityModelError`. No reference at all denies.
    """
    if calibration is None:
        from faces._dlib import DLIB_CALIBRATION

        calibration = DLIB_CALIBRATION
    versions: set[str] = set()
    probe_vector = _vector(probe, versions=versions)
    refs = [_vector(item, versions=versions) for item in reference]
    rivals = [[_vector(item, versions=versions) for item in person] for person in others]
    if calibration.model_version is not None:
        versions.add(calibration.model_version)
    if len(versions) > 1:
        raise IdentityModelError(
            f"embeddings of different models cannot be compared ({', '.join(sorted(versions))}): "
            "re-embed the reference with the current model"
        )
    threshold = calibration.threshold
    if not refs:
        return MatchResult(similarity=-1.0, threshold=threshold, same_person=False, margin=None, ambiguous=False,
                           reason="no reference embedding to compare with: nothing can match")
    similarity = max(cosine(probe_vector, ref) for ref in refs)
    rival_scores = [max(cosine(probe_vector, v) for v in person) for person in rivals if person]
    best_rival = max(rival_scores) if rival_scores else None
    margin = None if best_rival is None else similarity - best_rival
    ambiguous = margin is not None and margin < calibration.min_margin
    above = similarity >= threshold
    if not above:
        reason = (f"the face does not match the reference: similarity {similarity:.3f} is below the threshold "
                  f"{threshold:.3f}")
    elif ambiguous and best_rival is not None and margin is not None:
        reason = (f"ambiguous: the face matches the reference (similarity {similarity:.3f}) but another enrolled "
                  f"person comes within {margin:.3f} of it (similarity {best_rival:.3f}); at least "
                  f"{calibration.min_margin:.3f} is needed")
    elif best_rival is None:
        reason = f"the face matches the reference: similarity {similarity:.3f} reaches the threshold {threshold:.3f}"
    else:
        reason = (f"the face matches the reference: similarity {similarity:.3f} reaches the threshold "
                  f"{threshold:.3f}, {margin:.3f} above any other enrolled person")
    return MatchResult(similarity=similarity, threshold=threshold, same_person=above and not ambiguous,
                       margin=margin, ambiguous=ambiguous, reason=reason)


def require_calibration(backend: IdentityBackend) -> Calibration:
    """``backend.calibration``, or an :class:`~faces.errors.IdentityModelError` saying how to calibrate it."""
    if backend.calibration is None:
        raise IdentityModelError(
            f"the {backend.name} model {backend.model_version} has no calibrated threshold: run "
            "bench/identity_calibration.py --backend insightface --write-card on real faces first (docs/identity.md)"
        )
    return backend.calibration


def compare_faces(
    first: np.ndarray,
    second: np.ndarray,
    *,
    backend: IdentityBackend,
    labels: tuple[str, str] = ("the first image", "the second image"),
    min_face_px: int = 96,
) -> Comparison:
    """The similarity of the one face in each image and the calibrated same-person decision.

    A :class:`~faces.errors.FaceError` (no face, several, too small) names the image by its label.
    """
    calibration = require_calibration(backend)
    started = time.perf_counter()
    embeddings = []
    for image, label in zip((first, second), labels, strict=True):
        try:
            embeddings.append(embed_face(image, backend=backend, min_face_px=min_face_px))
        except FaceError as exc:
            if isinstance(exc, FaceBackendError):  # the operator's problem, not the image's
                raise
            raise type(exc)(f"{label}: {exc.message}") from None
    result = match(embeddings[1], reference=[embeddings[0]], calibration=calibration)
    elapsed = 1000 * (time.perf_counter() - started)
    return Comparison(similarity=result.similarity, threshold=calibration.threshold, same_person=result.same_person,
                      backend=backend.name, model_version=backend.model_version, elapsed_ms=elapsed)
