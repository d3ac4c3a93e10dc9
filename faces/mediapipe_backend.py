"""The default face backend: MediaPipe 0.10.21's BlazeFace detectors and 478-point face mesh, offline.

>>> import matplotlib.cbook, numpy as np
>>> from faces import FaceTracker, MediapipeBackend
>>> from media import read_image
>>> portrait = read_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
>>> with MediapipeBackend() as backend:
...     [face.score > 0.5 for face in backend.detect(np.concatenate([portrait, portrait], axis=1))]
[True, True]
>>> frames = [portrait, np.zeros_like(portrait), portrait]
>>> with FaceTracker() as tracker:                    # FaceLandmarks, or None where there is no face
...     [tracker.track(frame) is not None for frame in frames]
[True, False, True]

How :meth:`MediapipeBackend.detect` works on a still image:

1. Both BlazeFace detectors (full range, for small and far faces, and short range, for close
   ones) run on a copy whose long side is at most 1280 pixels. They find faces down to about
   8% of the image's long side, so an image larger than 800 pixels is searched again by the
   full-range detector in overlapping 800² tiles (at most 6 a side; larger images get larger
   tiles): faces from about 64 pixels wide are found anywhere. The boxes are merged.
2. Each box is cropped from the *original* image with a margin, resized to 384² and given to
   the face mesh (``refine_landmarks=True``: 478 points). A box counts as a face only when the
   mesh confirms it, which removes the detectors' occasional false positives and gives small
   faces enough pixels. The landmarks are mapped back to the original image's pixels.

The mesh alone (``max_num_faces``) misses small second faces, hence the detectors for counting.
``score`` is the detector's confidence. MediaPipe graphs are not thread-safe: each backend and
tracker serialises its own calls with a lock (one call takes ~15 ms on a 512² portrait).

MediaPipe is imported on first use (it costs ~0.6 s). Its C++ logging (absl, TFLite) cannot be
configured from Python, so a graph's creation and its first calls (until it has seen a face, at
most ten) run with the process's stderr (fd 2) pointed at ``/dev/null``: anything another thread
writes to stderr in those few milliseconds is lost. Nothing is ever written to stdout.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np

from faces.errors import FaceBackendError, FaceError
from faces.landmarks import N_POINTS, FaceLandmarks, as_rgb

logger = logging.getLogger(__name__)

MAX_DETECT_SIDE = 1280  # the detectors see a copy at most this large (they work at 128² / 192² anyway)
TILE_SIDE = 800  # larger images are searched again in overlapping tiles this large, for small faces
MAX_TILES_PER_SIDE = 6  # beyond that the tiles grow instead
CROP_SIZE = 384  # each face is meshed in a square crop this large
CROP_MARGIN = 1.9  # crop side / the detector box's longer side
_MERGE_IOU = 0.3  # detector boxes overlapping more than this are one face
_CONFIRM_IOU = 0.25  # a mesh confirms a detector box when their boxes overlap at least this much
_QUIET_CALLS = 10  # a graph's first calls stay quiet until it has seen a face, at most this many

_STDERR_LOCK = threading.Lock()
_IMPORT_LOCK = threading.Lock()
_solutions: Any = None


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Point fd 2 at /dev/null for the duration (MediaPipe's C++ logs bypass Python's logging)."""
    with _STDERR_LOCK:
        if sys.stderr is not None:
            with contextlib.suppress(Exception):
                sys.stderr.flush()  # what Python already buffered still goes out
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all: nothing to silence
            yield
            return
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            os.close(null)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _mediapipe_solutions() -> Any:
    """``mediapipe.solutions``, imported once, or a :class:`FaceBackendError` saying why it cannot be."""
    global _solutions
    with _IMPORT_LOCK:
        if _solutions is None:
            try:
                with _quiet_stderr():
                    import mediapipe as mp

                    solutions = mp.solutions
                    solutions.face_detection.FaceDetection  # noqa: B018 (the legacy API must be present)
                    solutions.face_mesh.FaceMesh  # noqa: B018
            except (ImportError, AttributeError) as exc:
                raise FaceBackendError(
                    f"the mediapipe face backend is not available ({exc}); it needs mediapipe==0.10.21, "
                    "the last release that ships its face models (see docs/dependencies.md)"
                ) from exc
            _solutions = solutions
        return _solutions


class _Graph:
    """One MediaPipe solution graph, created and warmed up quietly; its first calls quiet until it sees a face."""

    def __init__(self, factory: Callable[[Any], Any], *, what: str) -> None:
        solutions = _mediapipe_solutions()
        self.what = what
        try:
            with _quiet_stderr():
                self._solution = factory(solutions)
                # MediaPipe opens its calculators (and logs) on its own threads after start-up: a
                # first run waits until they are all open, still inside the quiet window.
                self._solution.process(np.zeros((64, 64, 3), np.uint8))
        except (RuntimeError, ValueError, OSError) as exc:
            raise FaceBackendError(f"the mediapipe {what} could not be started: {exc}") from exc
        self._quiet_calls = _QUIET_CALLS

    def process(self, rgb: np.ndarray) -> Any:
        try:
            if self._quiet_calls <= 0:
                return self._solution.process(rgb)
            with _quiet_stderr():
                result = self._solution.process(rgb)
            found = getattr(result, "detections", None) or getattr(result, "multi_face_landmarks", None)
            self._quiet_calls = 0 if found else self._quiet_calls - 1
            return result
        except (RuntimeError, ValueError, TypeError) as exc:
            raise FaceBackendError(f"the mediapipe {self.what} failed on a {rgb.shape[1]}x{rgb.shape[0]} image: "
                                   f"{exc}") from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._solution.close()


def _mesh_points(landmark_list: Any, *, width: int, height: int) -> np.ndarray:
    """A NormalizedLandmarkList as (478, 3) pixels: x·width, y·height, z·width (MediaPipe's convention)."""
    points = np.array([(p.x, p.y, p.z) for p in landmark_list.landmark], dtype=np.float64)
    if points.shape != (N_POINTS, 3):
        raise FaceBackendError(f"the mediapipe face mesh returned {points.shape[0]} landmarks, not {N_POINTS}")
    return points * np.array([width, height, width], dtype=np.float64)


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _extent(points: np.ndarray) -> tuple[float, float, float, float]:
    x0, y0 = points[:, :2].min(axis=0)
    x1, y1 = points[:, :2].max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


class MediapipeBackend:
    """The default :class:`~faces.landmarks.LandmarkBackend`: MediaPipe 0.10.21, CPU, offline.

    The graphs are created on the first call and reused; :meth:`close` releases them (a later
    call creates them again). Safe to share between threads (calls are serialised).
    """

    name = "mediapipe"

    def __init__(self, *, min_detection_confidence: float = 0.5, max_faces: int = 8) -> None:
        if not 0.0 < min_detection_confidence < 1.0:
            raise ValueError(f"min_detection_confidence must be between 0 and 1, not {min_detection_confidence}")
        if max_faces < 1:
            raise ValueError(f"max_faces must be at least 1, not {max_faces}")
        self.min_detection_confidence = min_detection_confidence
        self.max_faces = max_faces
        self._lock = threading.Lock()
        self._graphs: tuple[_Graph, _Graph, _Graph] | None = None

    def _ensure_graphs(self) -> tuple[_Graph, _Graph, _Graph]:
        if self._graphs is None:
            confidence = self.min_detection_confidence
            factories: list[tuple[str, Callable[[Any], Any]]] = [
                ("full-range face detector",
                 lambda s: s.face_detection.FaceDetection(model_selection=1, min_detection_confidence=confidence)),
                ("short-range face detector",
                 lambda s: s.face_detection.FaceDetection(model_selection=0, min_detection_confidence=confidence)),
                ("face mesh",
                 lambda s: s.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=2, refine_landmarks=True,
                                                min_detection_confidence=confidence)),
            ]
            graphs: list[_Graph] = []
            try:
                for what, factory in factories:
                    graphs.append(_Graph(factory, what=what))
            except FaceBackendError:
                for graph in graphs:
                    graph.close()
                raise
            self._graphs = (graphs[0], graphs[1], graphs[2])
        return self._graphs

    def detect(self, rgb: np.ndarray) -> list[FaceLandmarks]:
        """Every face found in ``rgb``, largest first, with landmarks in ``rgb``'s pixels."""
        image = as_rgb(rgb)
        height, width = image.shape[:2]
        scale = min(1.0, MAX_DETECT_SIDE / max(height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            work = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        else:
            work = image
        with self._lock:
            full, short, mesh = self._ensure_graphs()
            try:
                found = _boxes(full.process(work), work, scale) + _boxes(short.process(work), work, scale)
                for left, top, side in _tiles(width, height):
                    tile = np.ascontiguousarray(image[top:top + side, left:left + side])
                    found += [((x0 + left, y0 + top, x1 + left, y1 + top), score)
                              for (x0, y0, x1, y1), score in _boxes(full.process(tile), tile, 1.0)]
                boxes = _merge_boxes(found)
                faces: list[FaceLandmarks] = []
                for box, score in boxes[: 2 * self.max_faces]:
                    points = _mesh_in_crop(mesh, image, box)
                    if points is None:
                        logger.debug("a %s detection (score %.2f) was not confirmed by the mesh", mesh.what, score)
                        continue
                    face = FaceLandmarks.from_points(points.astype(np.float32), score=score, image_size=(width, height))
                    if all(_iou(face.bbox, other.bbox) < 0.5 for other in faces):
                        faces.append(face)
            except FaceBackendError:
                self._close_locked()  # a failed graph may be unusable: start afresh next time
                raise
        faces.sort(key=lambda f: f.width * f.height, reverse=True)
        return faces[: self.max_faces]

    def close(self) -> None:
        """Release the graphs (idempotent)."""
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._graphs is not None:
            for graph in self._graphs:
                graph.close()
            self._graphs = None

    def __enter__(self) -> MediapipeBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Box = tuple[float, float, float, float]


def _boxes(result: Any, work: np.ndarray, scale: float) -> list[tuple[Box, float]]:
    """A detector's boxes in the original image's pixels, with their scores."""
    height, width = work.shape[:2]
    found = []
    for detection in result.detections or []:
        rel = detection.location_data.relative_bounding_box
        x0, y0 = rel.xmin * width / scale, rel.ymin * height / scale
        x1, y1 = x0 + rel.width * width / scale, y0 + rel.height * height / scale
        if x1 > x0 and y1 > y0:
            found.append(((x0, y0, x1, y1), float(detection.score[0])))
    return found


def _tiles(width: int, height: int) -> list[tuple[int, int, int]]:
    """(left, top, side) of overlapping square tiles covering an image larger than TILE_SIDE; none otherwise."""
    if max(width, height) <= TILE_SIDE:
        return []
    # With neighbours overlapping by a quarter, n tiles of side s cover s·(1 + 0.75·(n − 1)) pixels.
    side = max(TILE_SIDE, math.ceil(max(width, height) / (1 + 0.75 * (MAX_TILES_PER_SIDE - 1))))

    def starts(size: int) -> list[int]:
        if size <= side:
            return [0]
        count = math.ceil((size - side) / (0.75 * side)) + 1
        return [round(i * (size - side) / (count - 1)) for i in range(count)]

    return [(left, top, side) for top in starts(height) for left in starts(width)]


def _merge_boxes(boxes: list[tuple[Box, float]]) -> list[tuple[Box, float]]:
    """Non-maximum suppression: the best-scoring box of each overlapping group."""
    kept: list[tuple[Box, float]] = []
    for box, score in sorted(boxes, key=lambda b: b[1], reverse=True):
        if all(_iou(box, other) <= _MERGE_IOU for other, _ in kept):
            kept.append((box, score))
    return kept


def _mesh_in_crop(mesh: _Graph, image: np.ndarray, box: Box) -> np.ndarray | None:
    """The face mesh of the face in ``box`` (original pixels), meshed in a square crop; None if not confirmed."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = box
    side = max(8, round(max(x1 - x0, y1 - y0) * CROP_MARGIN))
    left, top = round((x0 + x1 - side) / 2), round((y0 + y1 - side) / 2)
    crop = image[max(top, 0):min(top + side, height), max(left, 0):min(left + side, width)]
    if crop.size == 0:
        return None
    crop = cv2.copyMakeBorder(
        crop, max(0, -top), max(0, top + side - height), max(0, -left), max(0, left + side - width),
        cv2.BORDER_CONSTANT, value=(0, 0, 0),
    )
    factor = CROP_SIZE / side
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    crop = np.ascontiguousarray(cv2.resize(crop, (CROP_SIZE, CROP_SIZE), interpolation=interpolation))
    result = mesh.process(crop)
    best, best_iou = None, _CONFIRM_IOU
    for landmark_list in result.multi_face_landmarks or []:
        points = _mesh_points(landmark_list, width=CROP_SIZE, height=CROP_SIZE) / factor
        points[:, 0] += left
        points[:, 1] += top
        overlap = _iou(_extent(points), box)
        if overlap >= best_iou:
            best, best_iou = points, overlap
    return best


class FaceTracker:
    """Landmarks across the frames of one video (MediaPipe's video mode: detect once, then track).

    Feed frames in order with :meth:`track`; it returns the face's :class:`FaceLandmarks`, or
    None for a frame where no face is tracked. Tracked landmarks carry ``score`` =
    ``min_tracking_confidence``, the threshold they passed (video mode reports no per-frame
    confidence). One tracker per video; :meth:`close` (or ``with``) releases the graph.
    """

    def __init__(self, *, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5) -> None:
        for name, value in (("min_detection_confidence", min_detection_confidence),
                            ("min_tracking_confidence", min_tracking_confidence)):
            if not 0.0 < value < 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence
        self._lock = threading.Lock()
        self._graph: _Graph | None = None
        self._closed = False

    def track(self, frame: np.ndarray) -> FaceLandmarks | None:
        """The face in ``frame`` (the next frame of the video), or None where there is none."""
        image = as_rgb(frame, what="frame")
        height, width = image.shape[:2]
        with self._lock:
            if self._closed:
                raise FaceError("this FaceTracker is closed")
            if self._graph is None:
                self._graph = _Graph(
                    lambda s: s.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=True,
                                                   min_detection_confidence=self.min_detection_confidence,
                                                   min_tracking_confidence=self.min_tracking_confidence),
                    what="face tracker",
                )
            result = self._graph.process(image)
        if not result.multi_face_landmarks:
            return None
        points = _mesh_points(result.multi_face_landmarks[0], width=width, height=height)
        return FaceLandmarks.from_points(points.astype(np.float32), score=self.min_tracking_confidence,
                                         image_size=(width, height))

    def close(self) -> None:
        """Release the graph (idempotent); a closed tracker refuses further frames."""
        with self._lock:
            if self._graph is not None:
                self._graph.close()
                self._graph = None
            self._closed = True

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
