"""The expression basis: a PCA of canonical expression motion, whitened, with its map to the renderer's controls.

>>> import numpy as np
>>> from generator.motion_data.basis import fit_basis
>>> rng = np.random.default_rng(0)
>>> deltas = [rng.normal(size=(40, 1404)).astype(np.float32) for _ in range(3)]
>>> controls = [rng.normal(size=(40, 4)).astype(np.float32) for _ in range(3)]
>>> fit_basis(deltas, controls=controls, n_expr=4).n_expr
4
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from generator.errors import GeneratorError
from generator.motion_data.layout import EXPRESSION_CONTROLS, EXPRESSION_POINTS, FPS, N_EXPR, latent_names

# --- the basis: PCA of expression motion and its map to the renderer ------------------------------


@dataclass(frozen=True)
class MotionBasis:
    """The expression PCA and the linear map from its coefficients to the renderer's expression controls.

    ``mean`` (P·3,), ``components`` (K, P·3) orthonormal rows and ``scales`` (K,) their standard
    deviations (coefficient = (delta − mean) · componentᵀ / scale) over :data:`EXPRESSION_POINTS`;
    ``pose_map`` (K + 1, 4): [coefficients, 1] → :data:`EXPRESSION_CONTROLS`, fitted by least squares
    on the training frames; ``pose_map_r2`` (4,) how much of each control's variance within a clip it
    explains.
    """

    mean: np.ndarray
    components: np.ndarray
    scales: np.ndarray
    pose_map: np.ndarray
    pose_map_r2: np.ndarray
    fps: float = FPS

    @property
    def n_expr(self) -> int:
        return int(self.components.shape[0])

    @property
    def latent_names(self) -> list[str]:
        return latent_names(self.n_expr)

    def encode(self, deltas: np.ndarray) -> np.ndarray:
        """(T, K) whitened coefficients of canonical shape deltas (T, 468, 3)."""
        flat = np.asarray(deltas, np.float64)[:, list(EXPRESSION_POINTS)].reshape(len(deltas), -1)
        return (flat - self.mean) @ self.components.T / self.scales

    def decode(self, coefficients: np.ndarray) -> np.ndarray:
        """(T, 468, 3) canonical shape deltas of whitened coefficients (eye points left at zero)."""
        c = np.asarray(coefficients, np.float64)
        flat = (c * self.scales) @ self.components + self.mean
        out = np.zeros((len(c), 468, 3))
        out[:, list(EXPRESSION_POINTS)] = flat.reshape(len(c), -1, 3)
        return out

    def save(self, path: Path | str) -> None:
        np.savez(path, mean=self.mean.astype(np.float32), components=self.components.astype(np.float32),
                 scales=self.scales.astype(np.float32), pose_map=self.pose_map.astype(np.float32),
                 pose_map_r2=self.pose_map_r2.astype(np.float32), fps=np.float32(self.fps),
                 points=np.asarray(EXPRESSION_POINTS, np.int32), controls=np.asarray(EXPRESSION_CONTROLS))

    @classmethod
    def load(cls, path: Path | str) -> MotionBasis:
        """The basis in ``path`` (a ``pca.npz``, or a dataset directory holding one)."""
        path = Path(path)
        if path.is_dir():
            path = path / "pca.npz"
        try:
            with np.load(path, allow_pickle=False) as data:
                basis = cls(mean=data["mean"].astype(np.float64), components=data["components"].astype(np.float64),
                            scales=data["scales"].astype(np.float64), pose_map=data["pose_map"].astype(np.float64),
                            pose_map_r2=data["pose_map_r2"].astype(np.float64), fps=float(data["fps"]))
        except (OSError, KeyError, ValueError) as exc:
            raise GeneratorError(f"{path} is not a motion basis (pca.npz): {exc}") from None
        if basis.components.shape != (basis.n_expr, 3 * len(EXPRESSION_POINTS)) or basis.pose_map.shape != (
                basis.n_expr + 1, len(EXPRESSION_CONTROLS)):
            raise GeneratorError(f"{path}: the motion basis has inconsistent shapes")
        return basis


def fit_basis(deltas: Sequence[np.ndarray], *, controls: Sequence[np.ndarray], n_expr: int = N_EXPR) -> MotionBasis:
    """PCA of the training clips' canonical deltas, and the least-squares map coefficients → controls."""
    flat = np.concatenate([np.asarray(d)[:, list(EXPRESSION_POINTS)].reshape(len(d), -1) for d in deltas])
    if len(flat) <= n_expr:
        raise GeneratorError(f"{len(flat)} frames cannot fit {n_expr} expression components")
    mean = flat.mean(axis=0)
    _, sing, vt = np.linalg.svd(flat - mean, full_matrices=False)
    components = vt[:n_expr]
    scales = np.maximum(sing[:n_expr] / math.sqrt(len(flat) - 1), 1e-9)
    coeffs = (flat - mean) @ components.T / scales
    target = np.concatenate([np.asarray(c, np.float64) for c in controls])
    # Slopes from each clip's motion about its own mean (a clip's rest offset is not in its
    # coefficients, which are relative to its median shape); the intercept from all frames.
    bounds = np.cumsum([0] + [len(d) for d in deltas])
    centred_c, centred_t = coeffs.copy(), target.copy()
    for a, b in itertools.pairwise(bounds):
        centred_c[a:b] -= coeffs[a:b].mean(axis=0)
        centred_t[a:b] -= target[a:b].mean(axis=0)
    slopes = np.linalg.lstsq(centred_c, centred_t, rcond=None)[0]
    intercept = target.mean(axis=0) - coeffs.mean(axis=0) @ slopes
    pose_map = np.vstack([slopes, intercept])
    residual = centred_t - centred_c @ slopes
    variance = centred_t.var(axis=0)
    r2 = np.where(variance > 1e-12, 1.0 - residual.var(axis=0) / np.maximum(variance, 1e-12), 0.0)
    return MotionBasis(mean=mean, components=components, scales=scales, pose_map=pose_map, pose_map_r2=r2)


def explained_variance(deltas: Sequence[np.ndarray], basis: MotionBasis) -> float:
    """Share of the deltas' variance (about the basis mean) that the basis's components reconstruct."""
    flat = np.concatenate([np.asarray(d)[:, list(EXPRESSION_POINTS)].reshape(len(d), -1) for d in deltas])
    centred = flat - basis.mean
    projected = centred @ basis.components.T
    return float((projected**2).sum() / max((centred**2).sum(), 1e-12))
