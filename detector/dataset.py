"""The companion classifier's training data: aligned face and mouth crops of real clips and their twins.

>>> import numpy as np, tempfile
>>> from pathlib import Path
>>> from detector.dataset import Track, load_tracks, save_tracks
>>> g = Track.empty_geometry()
>>> track = Track(name="clip/real/orig", clip="clip", label=0, variant="orig", fps=25.0,
...               face=np.zeros((3, g.face_stored, g.face_stored, 3), np.uint8),
...               mouth=np.zeros((3, g.mouth_stored, g.mouth_stored, 3), np.uint8),
...               valid=np.array([True, True, False]), scale=np.array([90.0, 91.0, 0.0], np.float32))
>>> folder = Path(tempfile.mkdtemp())
>>> save_tracks([track], folder=folder)
>>> [(t.name, t.label, len(t), int(t.valid.sum())) for t in load_tracks(folder)]
[('clip/real/orig', 0, 3, 2)]

A *source* is one clip's frames: a real clip (label 0), or a synthetic twin (label 1) that our
generator made from that clip's own first frame and audio, so that both classes show the same
people and the classifier learns the generator's traces rather than identities. Every source
becomes several *tracks*, one per variant of what happens to video in the wild (``VARIANTS``:
as is; H.264 at CRF 23–35; 0.5× and 0.6–0.8× downscale with H.264), made in memory
(:mod:`detector._augment`). Landmarks are tracked once on the source's frames (MediaPipe video
mode) and scaled to each variant; crops are stored with a jitter margin (:mod:`detector._align`).
A twin first goes through H.264 at CRF 20, as the release path encodes it.

Tracks are saved as ``.npy`` arrays beside an ``index.json`` and loaded memory-mapped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector._align import CropGeometry, crop_pair, face_scale
from detector._augment import h264_roundtrip, rescale
from faces import FaceTracker

logger = logging.getLogger(__name__)

RELEASE_CRF = 20  # what provenance.release encodes at: a twin looks like a released file before any attack


@dataclass(frozen=True)
class Variant:
    """A transformation of a whole clip: downscale by a factor drawn from ``scale``, then H.264 at a CRF
    drawn from ``crf`` (None: untouched)."""

    name: str
    scale: tuple[float, float] = (1.0, 1.0)
    crf: tuple[int, int] | None = None


VARIANTS = (
    Variant("orig"),
    Variant("crf", crf=(23, 35)),
    Variant("half", scale=(0.5, 0.5), crf=(23, 35)),
    Variant("small", scale=(0.6, 0.8), crf=(23, 35)),
)


@dataclass
class Track:
    """One source under one variant: ``face`` (N, F, F, 3) and ``mouth`` (N, M, M, 3) uint8 crops at
    the stored (jitter-margin) sizes, ``valid`` (N,) where a face was tracked, ``scale`` (N,) the
    interocular distance in the variant's pixels."""

    name: str
    clip: str
    label: int
    variant: str
    fps: float
    face: np.ndarray
    mouth: np.ndarray
    valid: np.ndarray
    scale: np.ndarray

    def __len__(self) -> int:
        return int(self.valid.shape[0])

    @staticmethod
    def empty_geometry() -> CropGeometry:
        return CropGeometry()


def track_landmarks(frames: Sequence[np.ndarray]) -> list[np.ndarray | None]:
    """(478, 3) landmarks per frame (None where no face), tracked in video mode."""
    with FaceTracker() as tracker:
        found = [tracker.track(frame) for frame in frames]
    return [None if lm is None else np.array(lm.points) for lm in found]


def source_tracks(
    frames: Sequence[np.ndarray],
    *,
    name: str,
    clip: str,
    label: int,
    fps: float,
    rng: np.random.Generator,
    geometry: CropGeometry | None = None,
    variants: Sequence[Variant] = VARIANTS,
    synthetic_release: bool = False,
) -> list[Track]:
    """The tracks of one source: its frames under every variant, cropped by landmarks."""
    geometry = geometry or CropGeometry()
    if synthetic_release:
        frames = h264_roundtrip(frames, crf=RELEASE_CRF, fps=fps)
    points = track_landmarks(frames)
    height, width = frames[0].shape[:2]
    tracks = []
    for variant in variants:
        factor = float(rng.uniform(*variant.scale))
        changed = rescale(frames, factor=factor)
        crf = int(rng.integers(variant.crf[0], variant.crf[1] + 1)) if variant.crf else None
        if crf is not None:
            changed = h264_roundtrip(changed, crf=crf, fps=fps)
        sy, sx = changed[0].shape[0] / height, changed[0].shape[1] / width
        face = np.zeros((len(frames), geometry.face_stored, geometry.face_stored, 3), np.uint8)
        mouth = np.zeros((len(frames), geometry.mouth_stored, geometry.mouth_stored, 3), np.uint8)
        valid = np.zeros(len(frames), bool)
        scale = np.zeros(len(frames), np.float32)
        for i, (frame, pts) in enumerate(zip(changed, points, strict=True)):
            if pts is None:
                continue
            moved = pts * np.array([sx, sy, sx])
            face[i], mouth[i] = crop_pair(frame, points=moved, geometry=geometry)
            valid[i] = True
            scale[i] = face_scale(moved)
        label_name = "real" if label == 0 else "synthetic"
        desc = variant.name + (f"-x{factor:.2f}" if factor != 1.0 else "") + (f"-crf{crf}" if crf else "")
        tracks.append(Track(name=f"{name}/{label_name}/{desc}", clip=clip, label=label, variant=variant.name,
                            fps=fps, face=face, mouth=mouth, valid=valid, scale=scale))
        logger.info("%s: %d frames, %d with a face", tracks[-1].name, len(frames), int(valid.sum()))
    return tracks


def save_tracks(tracks: Sequence[Track], *, folder: Path) -> None:
    """Append ``tracks`` to the dataset in ``folder`` (arrays as .npy, metadata in index.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    index_path = folder / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {"tracks": []}
    for track in tracks:
        stem = f"{len(index['tracks']):04d}"
        for part in ("face", "mouth", "valid", "scale"):
            np.save(folder / f"{stem}_{part}.npy", getattr(track, part))
        index["tracks"].append({"stem": stem, "name": track.name, "clip": track.clip, "label": track.label,
                                "variant": track.variant, "fps": track.fps})
    index_path.write_text(json.dumps(index, indent=1))


def load_tracks(folder: Path, *, keep: Callable[[dict], bool] | None = None) -> list[Track]:
    """The dataset saved in ``folder`` (crops memory-mapped)."""
    index = json.loads((folder / "index.json").read_text())
    tracks = []
    for entry in index["tracks"]:
        if keep is not None and not keep(entry):
            continue
        stem = entry["stem"]
        arrays = {part: np.load(folder / f"{stem}_{part}.npy", mmap_mode="r" if part in ("face", "mouth") else None)
                  for part in ("face", "mouth", "valid", "scale")}
        tracks.append(Track(name=entry["name"], clip=entry["clip"], label=int(entry["label"]),
                            variant=entry["variant"], fps=float(entry["fps"]), **arrays))
    return tracks
