"""Landmark sequences with known head motion and expression, and folders of real clips, for the motion-data tests."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import matplotlib.cbook
import numpy as np

from faces import find_face
from faces import mesh as fm
from media import read_image

SENTENCE = "Please bring me a warm cup of coffee before the meeting starts."  # spoken by the `speech` fixture
SHARED_DATA = Path(os.environ.get("LIKENESS_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
LOWER_FACE = tuple(sorted(set(fm.LOWER_LIP_INNER[1:-1] + fm.LOWER_LIP_OUTER[1:-1] + (152, 148, 176, 377, 400, 17,
                                                                                    84, 314, 18, 200, 199))))


@functools.cache
def portrait() -> np.ndarray:
    return read_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


@functools.cache
def template() -> np.ndarray:
    """(478, 3) the landmarks of a real frontal face (Grace Hopper, matplotlib's sample image)."""
    return find_face(portrait()).points.astype(np.float64)


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation in image axes (x right, y down, z away): yaw turns the face to the viewer's right, then pitch, roll."""
    from generator.render import rotation as render_rotation

    return render_rotation(yaw, pitch=pitch, roll=roll)


def posed_sequence(
    n: int, *, yaw: np.ndarray | None = None, pitch: np.ndarray | None = None, roll: np.ndarray | None = None,
    scale: np.ndarray | None = None, shift: np.ndarray | None = None, jaw: np.ndarray | None = None,
    blink: np.ndarray | None = None, noise: float = 0.0, seed: int = 0,
) -> np.ndarray:
    """(n, 478, 3) the template face moved rigidly (angles in degrees about its centre) with a jaw drop and blinks.

    ``jaw`` (0–1) drops the lower lip and chin by up to 0.3 interocular; ``blink`` (0–1) brings both
    upper lids down to the lower ones.
    """
    base = template()
    zeros = np.zeros(n)
    yaw, pitch, roll = (zeros if a is None else np.asarray(a, np.float64) for a in (yaw, pitch, roll))
    scale = np.ones(n) if scale is None else np.asarray(scale, np.float64)
    shift = np.zeros((n, 2)) if shift is None else np.asarray(shift, np.float64)
    jaw = zeros if jaw is None else np.asarray(jaw, np.float64)
    blink = zeros if blink is None else np.asarray(blink, np.float64)
    iod = fm.interocular(base)
    centre = base[:468].mean(axis=0)
    rng = np.random.default_rng(seed)
    out = np.empty((n, 478, 3))
    for t in range(n):
        p = base.copy()
        p[list(LOWER_FACE), 1] += 0.3 * iod * jaw[t]
        for upper, lower in ((fm.LEFT_UPPER_LID, fm.LEFT_LOWER_LID), (fm.RIGHT_UPPER_LID, fm.RIGHT_LOWER_LID)):
            middle_up, middle_lo = list(upper[1:-1]), list(lower[1:-1])
            p[middle_up, 1] += blink[t] * 0.95 * (p[middle_lo, 1] - p[middle_up, 1])
        p = (p - centre) @ rotation(yaw[t], pitch=pitch[t], roll=roll[t]).T * scale[t] + centre
        p[:, :2] += shift[t]
        out[t] = p + noise * rng.standard_normal(p.shape)
    return out.astype(np.float32)


def clips_folder(root: Path, shared_data: Path, names: tuple[str, ...]) -> Path:
    """A folder of symbolic links to the named shared clips (``lp_d0`` …), nested like VoxCeleb2 for the second on."""
    root.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        target = root if k == 0 else root / "id0001" / f"video{k}"
        target.mkdir(parents=True, exist_ok=True)
        (target / f"{name}.mp4").symlink_to(shared_data / "clips" / f"{name}.mp4")
    return root
