"""Mesh warping for the renderer: triangulation, barycentric maps, and a dense backward warp.

>>> import numpy as np
>>> from generator._warp import WarpGrid
>>> vertices = np.array([[-1, -1], [64, -1], [64, 64], [-1, 64], [30, 30]], np.float32)
>>> grid = WarpGrid.build(vertices, size=64, step=2)
>>> image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
>>> still = grid.warp(image, forward=grid.interpolate(np.zeros_like(vertices)))
>>> moved = np.zeros_like(vertices); moved[4] = (3.0, 0.0)
>>> out = grid.warp(image, forward=grid.interpolate(moved))
>>> out.shape, bool(np.array_equal(still, image)), bool(np.array_equal(out, image))
((64, 64, 3), True, False)

The warp is a forward map given at mesh vertices (source position → source + displacement),
interpolated linearly inside each triangle of a Delaunay triangulation of the source positions.
Rendering needs the backward map (for every output pixel, where to read in the source): it is
found by fixed-point iteration ``p ← q − D(p)`` on a reduced-resolution grid (``step`` pixels a
cell), then upsampled and applied with one ``cv2.remap``. Everything per frame is vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_FILL_SHIFT = 4  # sub-pixel bits for cv2.fillPoly
Box = tuple[int, int, int, int]  # y0, y1, x0, x1 in grid cells


def _remap(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """``image`` sampled (bilinear, edges replicated) at the float32 (H, W, 2) coordinates ``xy``."""
    # one two-channel map: cv2's stub requires the second map, which OpenCV takes as None
    return cv2.remap(image, xy, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # type: ignore[call-overload]


def delaunay(points: np.ndarray, *, size: int) -> np.ndarray:
    """Triangles (T, 3) int32 of a Delaunay triangulation of ``points`` (N, 2) inside [-2, size + 2)²."""
    pts = np.asarray(points, np.float32)
    subdiv = cv2.Subdiv2D((-4, -4, size + 8, size + 8))
    lookup: dict[tuple[float, float], int] = {}
    for index, (x, y) in enumerate(pts):
        key = (float(x), float(y))
        while key in lookup:  # coincident points (e.g. clipped to the frame): nudge apart
            key = (float(np.float32(key[0] + 0.01)), float(np.float32(key[1] + 0.01)))
        lookup[key] = index
        subdiv.insert((key[0], key[1]))
    triangles = []
    for row in np.asarray(subdiv.getTriangleList(), np.float32).reshape(-1, 3, 2):
        keys = [(float(x), float(y)) for x, y in row]
        if all(k in lookup for k in keys):
            triangles.append([lookup[k] for k in keys])
    return np.asarray(triangles, np.int32)


@dataclass(frozen=True, eq=False)
class LocalGather:
    """Interpolation of vertex values at a subset of grid cells (flat ``cells``), for sparse updates."""

    cells: np.ndarray
    index: np.ndarray
    weight: np.ndarray

    def add_to(self, field: np.ndarray, *, values: np.ndarray) -> None:
        """``field`` (gh, gw, C) += the interpolation of per-vertex ``values`` (N, C), at these cells only."""
        v = np.asarray(values, np.float32)[self.index]
        flat = field.reshape(-1, field.shape[-1])
        flat[self.cells] += v[0] * self.weight[0] + v[1] * self.weight[1] + v[2] * self.weight[2]


@dataclass(frozen=True, eq=False)
class WarpGrid:
    """Precomputed barycentric coordinates of a reduced-resolution grid in a source triangulation.

    ``index`` (3, G) int32 are the vertices of the triangle that holds each grid cell centre and
    ``weight`` (3, G, 1) float32 their barycentric weights; ``centres`` (gh, gw, 2) float32 the
    cell centres in full-resolution pixels; ``identity`` (size, size, 2) float32 the identity map.
    """

    size: int
    step: int
    triangles: np.ndarray
    index: np.ndarray
    weight: np.ndarray
    centres: np.ndarray
    identity: np.ndarray

    @classmethod
    def build(cls, vertices: np.ndarray, *, size: int, step: int = 2, triangles: np.ndarray | None = None) -> WarpGrid:
        """Triangulate ``vertices`` (N, 2; they must enclose the frame) and rasterise the grid."""
        vertices = np.asarray(vertices, np.float64)
        if triangles is None:
            triangles = delaunay(vertices, size=size)
        gsize = size // step
        offset = (step - 1) / 2.0
        owner = np.full((gsize, gsize), -1, np.int32)
        scale = float(1 << _FILL_SHIFT)
        grid_xy = (vertices - offset) / step
        corners = vertices[triangles]
        area = np.abs(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]))
        for t in np.argsort(area, kind="stable"):  # slivers first, so that real triangles claim shared cells
            poly = np.round(grid_xy[triangles[t]] * scale).astype(np.int32)
            cv2.fillPoly(owner, [poly], (int(t),), lineType=cv2.LINE_8, shift=_FILL_SHIFT)
        missing = owner < 0
        if missing.any():  # cells no raster rule claimed: take the nearest claimed one
            _, labels = cv2.distanceTransformWithLabels(
                missing.astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
            )
            claimed = owner[~missing]
            label_of = np.zeros(labels.max() + 1, np.int32)
            label_of[labels[~missing]] = claimed
            owner[missing] = label_of[labels[missing]]
        ys, xs = np.mgrid[0:gsize, 0:gsize].astype(np.float64)
        centres = np.stack([xs * step + offset, ys * step + offset], axis=-1)
        tri = triangles[owner.ravel()]  # (G, 3)
        a, b, c = (vertices[tri[:, k]] for k in range(3))
        p = centres.reshape(-1, 2)
        v0, v1, v2 = b - a, c - a, p - a
        den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
        den = np.where(np.abs(den) < 1e-9, 1e-9, den)
        wb = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
        wc = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
        w = np.stack([1.0 - wb - wc, wb, wc], axis=0)
        w = np.clip(w, -0.25, 1.25)
        w /= w.sum(axis=0, keepdims=True)
        iy, ix = np.mgrid[0:size, 0:size].astype(np.float32)
        return cls(
            size=size,
            step=step,
            triangles=triangles,
            index=np.ascontiguousarray(tri.T.astype(np.int32)),
            weight=w[..., None].astype(np.float32),
            centres=centres.astype(np.float32),
            identity=np.stack([ix, iy], axis=-1),
        )

    @property
    def shape(self) -> tuple[int, int]:
        height, width = self.centres.shape[:2]
        return height, width

    def interpolate(self, values: np.ndarray) -> np.ndarray:
        """Per-vertex ``values`` (N, C) interpolated at the grid: (gh, gw, C) float32."""
        v = np.asarray(values, np.float32)
        taken = v[self.index]  # (3, G, C)
        out = taken[0] * self.weight[0]
        out += taken[1] * self.weight[1]
        out += taken[2] * self.weight[2]
        return out.reshape(*self.shape, v.shape[1])

    def local(self, vertex_ids: np.ndarray) -> LocalGather:
        """A gather restricted to the grid cells whose triangle uses one of ``vertex_ids``."""
        touched = np.isin(self.index, np.asarray(vertex_ids)).any(axis=0)
        cells = np.flatnonzero(touched)
        return LocalGather(cells=cells, index=self.index[:, cells], weight=self.weight[:, cells])

    def inverse(self, forward: np.ndarray, *, iterations: int = 4, boxes: tuple[Box, ...] = (),
                newton: int = 3) -> np.ndarray:
        """Backward displacement (gh, gw, 2): for each grid centre q, ``p − q`` where ``p + D(p) = q``.

        Fixed-point iteration ``p ← q − D(p)`` everywhere (it converges where the warp is gentle),
        then, inside each of ``boxes`` (y0, y1, x0, x1 in cells: the mouth, the eyes), Newton steps
        with the field's Jacobian, which also converge where the warp stretches strongly (an
        opening mouth, a closing lid).
        """
        step, offset = self.step, (self.step - 1) / 2.0
        back = -forward
        for _ in range(iterations):
            coords = (self.centres + back - offset) * (1.0 / step)
            back = -_remap(forward, coords)
        for box in boxes:
            self._newton(forward, back, box, newton)
        return back

    def _newton(self, forward: np.ndarray, back: np.ndarray, box: Box, steps: int) -> None:
        step, offset = self.step, (self.step - 1) / 2.0
        y0, y1, x0, x1 = box
        gh, gw = self.shape
        y0, y1, x0, x1 = max(y0 - 2, 0), min(y1 + 2, gh), max(x0 - 2, 0), min(x1 + 2, gw)
        local = forward[y0:y1, x0:x1]
        if min(local.shape[:2]) < 3:
            return
        dy, dx = np.gradient(local, axis=(0, 1))  # per cell; the Jacobian is that / step
        table = np.concatenate([local, dx * (1.0 / step), dy * (1.0 / step)], axis=-1)  # D, ∂D/∂x, ∂D/∂y
        q = self.centres[y0:y1, x0:x1]
        p = q + back[y0:y1, x0:x1]
        origin = np.array([x0 * step + offset, y0 * step + offset], np.float32)
        for _ in range(steps):
            coords = (p - origin) * (1.0 / step)
            t = _remap(table, coords)
            rx, ry = p[..., 0] + t[..., 0] - q[..., 0], p[..., 1] + t[..., 1] - q[..., 1]
            a, b = 1.0 + t[..., 2], t[..., 4]  # [[a, b], [c, d]] = I + J
            c, d = t[..., 3], 1.0 + t[..., 5]
            det = a * d - b * c
            ok = det > 0.05
            det = np.where(ok, det, 1.0)
            sx = np.where(ok, (d * rx - b * ry) / det, rx)
            sy = np.where(ok, (a * ry - c * rx) / det, ry)
            p[..., 0] -= np.clip(sx, -8.0 * step, 8.0 * step)
            p[..., 1] -= np.clip(sy, -8.0 * step, 8.0 * step)
        # blend into the fixed-point result over the box's outer cells, so its edge leaves no seam
        ramp_y = np.minimum(np.arange(y1 - y0), np.arange(y1 - y0)[::-1])
        ramp_x = np.minimum(np.arange(x1 - x0), np.arange(x1 - x0)[::-1])
        w = (np.clip(np.minimum.outer(ramp_y, ramp_x) / 4.0, 0.0, 1.0))[..., None].astype(np.float32)
        back[y0:y1, x0:x1] += w * (p - q - back[y0:y1, x0:x1])

    def warp(self, image: np.ndarray, *, forward: np.ndarray, boxes: tuple[Box, ...] = ()) -> np.ndarray:
        """``image`` warped by the forward displacement field ``forward`` (Newton-refined inside ``boxes``)."""
        back = self.inverse(forward, boxes=boxes)
        if self.step > 1:
            back = cv2.resize(back, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        return _remap(image, self.identity + back)
