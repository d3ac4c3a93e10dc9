"""The companion classifier at detection time: ONNX model + card, windows of aligned crops, calibrated score.

>>> from detector.classifier import Classifier, plan_windows
>>> classifier = Classifier.load()                    # the shipped model, hash-checked, offline
>>> classifier.card.name, classifier.card.window
('likeness-companion', 8)
>>> plan_windows(250, fps=25.0, window=8, frame_rate=25.0, max_windows=20)      # a 10 s clip
(1, [0, 27, 54, 81, 108, 134, 161, 188, 215, 242])
>>> run = classifier.start(frame_count=250, fps=25.0)
>>> sorted(run.needed)[:9]                            # frames to hand to run.add(index, frame)
[0, 1, 2, 3, 4, 5, 6, 7, 27]

How a clip is read: about one window of ``window`` consecutive frames per second (at most
``max_windows``, evenly spread; every ``round(fps / frame_rate)``-th frame on fast clips), the
face tracked through each window (MediaPipe, video mode), face and mouth cropped by landmarks
(:mod:`detector._align`), and the ONNX model gives a logit per frame and per window. With a
combined model (the card's ``stacking``, :class:`Stacking`), each window's logit becomes
``bias + cnn × CNN logit + texture × frozen-texture cue`` (:mod:`detector.texture`, measured on the
full frames of up to ``TEXTURE_WINDOWS`` windows, its median used for the clip). The clip's
logit is the mean over windows; divided by the card's temperature (fitted on held-out clips)
and passed through the logistic function it is the calibrated ``score``. The ``band`` is the
90 % percentile interval of the same statistic over 2000 bootstrap resamples of the windows.

Outside what the model was trained for, the answer is ``undetermined``, not a guess: shorter
than ``min_seconds``, no face, a face under ``min_interocular_px`` between the eyes, or a face
tracked through fewer than two windows or under half of them. Only numpy, OpenCV, MediaPipe
(through :mod:`faces`) and onnxruntime run here: torch is for training.

The card (JSON beside the ``.onnx``) names the file and its SHA-256; :meth:`Classifier.load`
refuses a model whose bytes differ (:class:`~detector.errors.ModelError`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detector._align import CropGeometry, centre, crop_pair, face_scale
from detector.errors import ModelError
from detector.report import (
    CLASSIFIER_INCONCLUSIVE,
    CLASSIFIER_LIKELY_SYNTHETIC,
    CLASSIFIER_NOT_DETECTED,
    CLASSIFIER_UNDETERMINED,
    ClassifierEvidence,
)
from detector.texture import face_box, frozen_texture, small_grey
from faces import FaceTracker

logger = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_CARD = MODELS_DIR / "companion-v2.json"
BAND_LEVEL = 0.9
BOOTSTRAP = 2000
THUMB_SIDE = 200
N_DRIVERS = 3
TEXTURE_WINDOWS = 8  # windows (evenly spread) on which the frozen-texture cue is measured


@dataclass(frozen=True)
class Stacking:
    """The combined model: window logit = ``bias`` + ``cnn`` × CNN window logit + ``texture`` × the
    clip's frozen-texture cue (``texture_fill`` when it could not be measured). Fitted out of fold
    (see :mod:`detector.stacking`)."""

    bias: float
    cnn: float
    texture: float
    texture_fill: float

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stacking:
        return cls(bias=float(data["bias"]), cnn=float(data["cnn"]), texture=float(data["texture"]),
                   texture_fill=float(data["texture_fill"]))

    def to_dict(self) -> dict[str, float]:
        return {"bias": round(self.bias, 6), "cnn": round(self.cnn, 6), "texture": round(self.texture, 6),
                "texture_fill": round(self.texture_fill, 6)}

    def combine(self, cnn_logits: np.ndarray, texture: float | None) -> np.ndarray:
        value = self.texture_fill if texture is None else texture
        return self.bias + self.cnn * np.asarray(cnn_logits, np.float64) + self.texture * value


@dataclass(frozen=True)
class ModelCard:
    """What a model file is and how to use it: read from the JSON card beside it."""

    path: Path
    name: str
    version: str
    file: str
    sha256: str
    geometry: CropGeometry
    window: int
    frame_rate: float
    max_windows: int
    min_seconds: float
    min_interocular_px: float
    temperature: float
    likely_synthetic: float
    not_detected: float
    data: dict[str, Any] = field(repr=False, compare=False)
    stacking: Stacking | None = None

    @classmethod
    def read(cls, path: Path) -> ModelCard:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            inputs, thresholds = data["input"], data["thresholds"]
            return cls(
                path=path, name=data["name"], version=data["version"], file=data["file"], sha256=data["sha256"],
                geometry=CropGeometry.from_dict(inputs["geometry"]), window=int(inputs["window"]),
                frame_rate=float(inputs["frame_rate"]), max_windows=int(inputs["max_windows"]),
                min_seconds=float(inputs["min_seconds"]), min_interocular_px=float(inputs["min_interocular_px"]),
                temperature=float(data["calibration"]["temperature"]),
                likely_synthetic=float(thresholds["likely_synthetic"]),
                not_detected=float(thresholds["not_detected"]), data=data,
                stacking=Stacking.from_dict(data["stacking"]) if data.get("stacking") else None,
            )
        except OSError as exc:
            raise ModelError(f"cannot read the classifier's model card {path}: {exc.strerror or exc}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"the classifier's model card {path} is malformed ({exc!r})") from exc

    @property
    def model_path(self) -> Path:
        return self.path.parent / self.file

    def summary(self) -> dict[str, Any]:
        """Name, version, file hash, calibration and whether the texture cue joins: what a report names."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "file": self.file,
                "temperature": self.temperature, "trained": self.data.get("training", {}).get("date"),
                "combined": self.stacking is not None}


def plan_windows(
    frame_count: int, *, fps: float, window: int, frame_rate: float, max_windows: int
) -> tuple[int, list[int]]:
    """(step, window starts): about one window a second, at most ``max_windows``, evenly spread."""
    step = max(1, round(fps / frame_rate)) if fps > 0 else 1
    span = (window - 1) * step + 1
    if frame_count < span:
        return step, []
    seconds = frame_count / fps if fps > 0 else 0.0
    count = int(min(max_windows, max(2, math.floor(seconds))))
    last = frame_count - span
    return step, sorted({round(x) for x in np.linspace(0, last, count)})


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


class Classifier:
    """The ONNX model and its card. Load once (:meth:`load`) and hand it to :func:`detector.analyse`."""

    def __init__(self, card: ModelCard, session: Any) -> None:
        self.card = card
        self._session = session

    @classmethod
    def load(cls, card_path: Path | None = None) -> Classifier:
        """The model named by ``card_path`` (default: the shipped one), after checking its SHA-256."""
        card = ModelCard.read(card_path or DEFAULT_CARD)
        try:
            blob = card.model_path.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read the classifier's model {card.model_path}: {exc.strerror or exc}") from exc
        digest = hashlib.sha256(blob).hexdigest()
        if digest != card.sha256:
            raise ModelError(
                f"the classifier's model {card.model_path.name} does not match its card "
                f"(sha256 {digest[:16]}…, expected {card.sha256[:16]}…): refusing to use it"
            )
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(blob, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"onnxruntime cannot load {card.model_path.name}: {exc}") from exc
        return cls(card, session)

    def with_windows(self, max_windows: int) -> Classifier:
        """The same model and calibration, reading at most ``max_windows`` windows (evenly spread) per clip."""
        if max_windows < 2:
            raise ValueError(f"the classifier needs at least 2 windows, not {max_windows}")
        return Classifier(dataclasses.replace(self.card, max_windows=max_windows), self._session)

    def logits(self, face: np.ndarray, *, mouth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(window logits (W,), frame logits (W, T)) for centre crops (W, T, S, S, 3) uint8."""
        window, frames = self._session.run(None, {"face": np.ascontiguousarray(face),
                                                  "mouth": np.ascontiguousarray(mouth)})
        return np.asarray(window, np.float64), np.asarray(frames, np.float64)

    def calibrate(self, logit: np.ndarray | float) -> np.ndarray:
        """Calibrated probability of a logit (temperature scaling)."""
        return _sigmoid(np.asarray(logit, np.float64) / self.card.temperature)

    def start(self, *, frame_count: int, fps: float, texture: bool | None = None) -> ClassifierRun:
        """A run over one clip: feed it the frames it ``needs``, in order, then :meth:`ClassifierRun.finish`.

        ``texture`` measures the frozen-texture cue even for a card without a combined model (to fit one);
        by default it is measured only when the card combines it.
        """
        return ClassifierRun(self, frame_count=frame_count, fps=fps, texture=texture)


class ClassifierRun:
    """One clip's frames through the classifier (see the module docstring)."""

    def __init__(self, classifier: Classifier, *, frame_count: int, fps: float, texture: bool | None = None) -> None:
        card = classifier.card
        self.classifier = classifier
        self.fps = fps if fps > 0 else 25.0
        self.frame_count = frame_count
        self.step, self.starts = plan_windows(frame_count, fps=self.fps, window=card.window,
                                              frame_rate=card.frame_rate, max_windows=card.max_windows)
        self.windows = [[s + k * self.step for k in range(card.window)] for s in self.starts]
        self.needed = {i for w in self.windows for i in w}
        self._middles = {w[len(w) // 2] for w in self.windows}
        self._face: dict[int, np.ndarray] = {}
        self._mouth: dict[int, np.ndarray] = {}
        self._scale: dict[int, float] = {}
        self._thumbs: dict[int, np.ndarray] = {}
        picks = sorted({round(x) for x in np.linspace(0, len(self.windows) - 1, min(TEXTURE_WINDOWS,
                                                                                   len(self.windows)))})
        # the CNN alone needs no cue, unless asked (fitting a combined model)
        wanted = (card.stacking is not None if texture is None else texture) and bool(self.windows)
        self._texture_windows = [self.windows[k] for k in picks] if wanted else []
        self._texture_frames = {i for w in self._texture_windows for i in w}
        self._grey: dict[int, np.ndarray] = {}
        self._grey_scale = 1.0
        self._boxes: dict[int, tuple[float, float, float, float]] = {}
        self._seen = 0
        self._tracker: FaceTracker | None = None
        self._elapsed = 0.0

    def wants(self, index: int) -> bool:
        return index in self.needed

    def add(self, index: int, frame: np.ndarray) -> None:
        """Frame ``index`` of the clip (RGB uint8); frames it does not need are ignored."""
        if index not in self.needed:
            return
        started = time.perf_counter()
        self._seen += 1
        if self._tracker is None:
            self._tracker = FaceTracker()
        found = self._tracker.track(frame)
        geometry = self.classifier.card.geometry
        if found is not None:
            points = np.asarray(found.points)
            face, mouth = crop_pair(frame, points=points, geometry=geometry)
            self._face[index] = centre(face, size=geometry.face_size)
            self._mouth[index] = centre(mouth, size=geometry.mouth_size)
            self._scale[index] = face_scale(points)
            if index in self._texture_frames:
                self._boxes[index] = face_box(points)
        if index in self._texture_frames:
            self._grey[index], self._grey_scale = small_grey(frame)
        if index in self._middles:
            height, width = frame.shape[:2]
            factor = THUMB_SIDE / max(height, width)
            self._thumbs[index] = cv2.resize(frame, (max(1, round(width * factor)), max(1, round(height * factor))),
                                             interpolation=cv2.INTER_AREA)
        self._elapsed += time.perf_counter() - started

    def close(self) -> None:
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None

    def _undetermined(self, reason: str, **extra: Any) -> ClassifierEvidence:
        return ClassifierEvidence(
            score=None, verdict=CLASSIFIER_UNDETERMINED, reason=reason, model=self.classifier.card.summary(),
            windows_planned=len(self.windows), frames_analysed=self._seen, frames_with_face=len(self._face),
            elapsed_s=round(self._elapsed, 3), **extra,
        )

    def finish(self, *, duration_s: float | None = None) -> ClassifierEvidence:
        """The evidence, or ``undetermined`` with the reason when the clip is outside the model's domain."""
        self.close()
        started = time.perf_counter()
        card = self.classifier.card
        duration = duration_s if duration_s is not None else self.frame_count / self.fps
        if duration < card.min_seconds or not self.windows:
            return self._undetermined(f"the clip is {duration:.2f} s long; the classifier needs at least "
                                      f"{card.min_seconds:g} s")
        if not self._face:
            return self._undetermined(f"no face was found in the {self._seen} frames sampled")
        face_px = float(np.median(list(self._scale.values())))
        if face_px < card.min_interocular_px:
            return self._undetermined(
                f"the face is too small: {face_px:.0f} px between the eyes, at least "
                f"{card.min_interocular_px:g} are needed", face_px=round(face_px, 1))
        usable = [w for w in self.windows
                  if all(i in self._face and self._scale[i] >= card.min_interocular_px for i in w)]
        if len(usable) < 2 or len(usable) < 0.5 * len(self.windows):
            return self._undetermined(
                f"a usable face was tracked through only {len(usable)} of {len(self.windows)} windows",
                face_px=round(face_px, 1))
        face = np.stack([[self._face[i] for i in w] for w in usable])
        mouth = np.stack([[self._mouth[i] for i in w] for w in usable])
        cnn_window, frame_logits = self.classifier.logits(face, mouth=mouth)
        texture = self._texture()
        window_logits = cnn_window
        if card.stacking is not None:  # the same affine map on windows and frames keeps them comparable
            window_logits = card.stacking.combine(cnn_window, texture)
            frame_logits = card.stacking.combine(frame_logits, texture)
        score = float(self.classifier.calibrate(window_logits.mean()))
        rng = np.random.default_rng(0)
        picks = rng.integers(0, len(window_logits), size=(BOOTSTRAP, len(window_logits)))
        boot = self.classifier.calibrate(window_logits[picks].mean(axis=1))
        tail = (1 - BAND_LEVEL) / 2
        band = (round(float(np.quantile(boot, tail)), 4), round(float(np.quantile(boot, 1 - tail)), 4))
        if score >= card.likely_synthetic and band[0] >= 0.5:
            verdict = CLASSIFIER_LIKELY_SYNTHETIC
        elif score < card.not_detected:
            verdict = CLASSIFIER_NOT_DETECTED
        else:
            verdict = CLASSIFIER_INCONCLUSIVE
        window_scores = self.classifier.calibrate(window_logits)
        curve = [{"t_s": round((w[0] + w[-1]) / 2 / self.fps, 3), "start_frame": w[0], "frames": len(w),
                  "score": round(float(s), 4), "logit": round(float(x), 4)}
                 for w, s, x in zip(usable, window_scores, window_logits, strict=True)]
        per_frame = self.classifier.calibrate(frame_logits)
        frame_scores = [{"frame": i, "t_s": round(i / self.fps, 3), "score": round(float(s), 4)}
                        for w, row in zip(usable, per_frame, strict=True) for i, s in zip(w, row, strict=True)]
        order = np.argsort(-window_logits)[:N_DRIVERS]
        drivers = [{"frame": usable[k][len(usable[k]) // 2], "t_s": curve[k]["t_s"], "score": curve[k]["score"]}
                   for k in order]
        thumbnails = {f"frame:{d['frame']}": self._thumbs[d["frame"]] for d in drivers if d["frame"] in self._thumbs}
        for d in drivers:  # the aligned face the model saw, beside the frame
            thumbnails[f"face:{d['frame']}"] = self._face[d["frame"]]
        reason = None
        if verdict == CLASSIFIER_INCONCLUSIVE:
            reason = "the score is between the model's thresholds, or its band reaches below one half"
        return ClassifierEvidence(
            score=round(score, 4), verdict=verdict, reason=reason, logit=round(float(window_logits.mean()), 4),
            band=band, band_level=BAND_LEVEL,
            threshold=card.likely_synthetic, model=card.summary(), windows=len(usable),
            windows_planned=len(self.windows), frames_analysed=self._seen, frames_with_face=len(self._face),
            face_px=round(face_px, 1), curve=curve, frame_scores=frame_scores, drivers=drivers,
            elapsed_s=round(self._elapsed + time.perf_counter() - started, 3), thumbnails=thumbnails,
            cnn_logit=round(float(cnn_window.mean()), 4),
            frozen_texture=None if texture is None else round(texture, 4),
        )

    def _texture(self) -> float | None:
        """The median frozen-texture cue over the windows where it could be measured (None: nowhere)."""
        values = []
        for w in self._texture_windows:
            boxes = [self._boxes[i] for i in w if i in self._boxes]
            if len(boxes) < len(w) // 2 or any(i not in self._grey for i in w):
                continue
            x0, y0, x1, y1 = (float(v) for v in np.median(np.array(boxes), axis=0))
            value = frozen_texture([self._grey[i] for i in w], (x0, y0, x1, y1), scale=self._grey_scale)
            if value is not None:
                values.append(value)
        return float(np.median(values)) if values else None
