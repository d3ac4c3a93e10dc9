"""Eyes for the renderer: the iris displacement fields for gaze, and painting closed lids.

>>> import numpy as np
>>> from generator._eyes import curve_at
>>> curve_at(np.array([0.0, 10.0]), ys=np.array([5.0, 7.0]), at=np.array([5.0]))
array([6.])

Gaze moves the iris inside the eye opening: a displacement field, added to the mesh warp, that
is 1 over the iris, fades to 0 over the sclera and is cut at the lids, so the lids stay and the
sclera is stretched on one side and compressed on the other. Blinks move the upper lid down
in the mesh warp; when the eye is (nearly) closed, :func:`paint_closed` covers what is left of
the squeezed eye with lid skin (its colour sampled just above the lid) and draws a lash line.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from generator import _topology as topo
from generator._bases import smoothstep
from generator._warp import WarpGrid

EYES = (  # upper lid, lower lid, iris (centre first), brow
    (topo.RIGHT_EYE_UPPER, topo.RIGHT_EYE_LOWER, topo.RIGHT_IRIS, topo.RIGHT_BROW),
    (topo.LEFT_EYE_UPPER, topo.LEFT_EYE_LOWER, topo.LEFT_IRIS, topo.LEFT_BROW),
)


def curve_at(xs: np.ndarray, *, ys: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The polyline (xs, ys) evaluated at the x positions ``at`` (xs sorted here)."""
    order = np.argsort(xs, kind="stable")
    return np.interp(at, xs[order], ys[order])


def gaze_fields(points: np.ndarray, *, grid: WarpGrid, unit: float) -> tuple[np.ndarray, np.ndarray]:
    """Fields (2, gh, gw, 2) float32: the displacement for gaze_x = 1 and for gaze_y = 1; and the travel (2,) in px."""
    gh, gw = grid.shape
    step, offset = grid.step, (grid.step - 1) / 2.0
    fields = np.zeros((2, gh, gw, 2), np.float32)
    travel = np.zeros(2, np.float32)
    centres = grid.centres.astype(np.float64)
    for upper, lower, iris, _ in EYES:
        centre = points[iris[0], :2].astype(np.float64)
        radius = float(np.linalg.norm(points[iris[1:], :2] - centre, axis=1).mean())
        radius = float(np.clip(radius, 0.05 * unit, 0.2 * unit))
        half_width = abs(points[upper[-1], 0] - points[upper[0], 0]) / 2.0
        tx = 0.65 * max(half_width - radius, 0.0)
        ty = 0.2 * radius
        travel += np.array([tx, ty], np.float32) / 2.0
        polygon = np.r_[points[upper, :2], points[lower[::-1], :2]]
        mask: np.ndarray = np.zeros((gh, gw), np.float32)
        cv2.fillPoly(mask, [np.round((polygon - offset) / step * 16).astype(np.int32)], (1.0,), cv2.LINE_AA, shift=4)
        mask = cv2.GaussianBlur(cv2.erode(mask, np.ones((2, 2), np.uint8)), (0, 0), 0.6)
        r = np.linalg.norm(centres - centre, axis=-1)
        weight = (mask * (1.0 - smoothstep(radius, 2.8 * radius, r))).astype(np.float32)
        fields[0, ..., 0] += weight * tx
        fields[1, ..., 1] += weight * ty
    return fields, travel


def lid_colours(image: np.ndarray, *, points: np.ndarray, unit: float) -> np.ndarray:
    """(2, 3) float32: the median skin colour between each upper lid and its brow."""
    out = np.zeros((2, 3), np.float32)
    h, w = image.shape[:2]
    r = max(1, round(0.03 * unit))
    for e, (upper, _, _, brow) in enumerate(EYES):
        brow_y = points[brow, 1].mean()
        samples = []
        for x, y in points[upper[2:-2], :2]:
            sy = round(float(y) - 0.4 * max(float(y) - brow_y, 0.05 * unit))
            sx = round(float(x))
            patch = image[max(sy - r, 0):min(sy + r + 1, h), max(sx - r, 0):min(sx + r + 1, w)]
            if patch.size:
                samples.append(patch.reshape(-1, 3))
        out[e] = np.median(np.concatenate(samples), axis=0) if samples else (180.0, 140.0, 120.0)
    return out


def _sample_rows(frame: np.ndarray, xs: np.ndarray, rows: np.ndarray, *, blur: float) -> np.ndarray:
    """The colours (len(xs), 3) float32 of ``frame`` at (xs, rows), smoothed along the columns."""
    ys = np.clip(np.round(rows).astype(int), 0, frame.shape[0] - 1)
    picked = frame[ys, xs.astype(int)].astype(np.float32)
    return cv2.GaussianBlur(picked[None], (0, 0), sigmaX=max(1.0, blur))[0]


def paint_closed(frame: np.ndarray, *, target: np.ndarray, blinks: tuple[float, float], colours: np.ndarray,
                 unit: float) -> None:
    """Cover (nearly) closed eyes in ``frame`` (in place): lid skin over what is left of the eye, and a lash line.

    The cover reaches a little past the landmarks' eye outline (below the lower lid and beyond the
    corners), where on drawn and painted eyes the visible white often extends; its colour runs from
    the lid skin sampled above the closed lid to the skin sampled below the eye.
    """
    size_h, size_w = frame.shape[:2]
    u = float(unit)
    for e, (upper, lower, _, _) in enumerate(EYES):
        lash_alpha = float(smoothstep(0.55, 0.95, blinks[e]))
        cover_alpha = float(smoothstep(0.75, 1.0, blinks[e]))
        if lash_alpha <= 0.0:
            continue
        up, low = target[upper, :2].astype(np.float64), target[lower, :2].astype(np.float64)
        left, right = min(up[0, 0], up[-1, 0]), max(up[0, 0], up[-1, 0])
        reach_x, reach_down = 0.05 * u, 0.06 * u
        x0 = max(math.floor(left - reach_x) - 1, 0)
        x1 = min(math.ceil(right + reach_x) + 2, size_w)
        y0 = max(math.floor(up[:, 1].min() - 0.1 * u), 0)
        y1 = min(math.ceil(low[:, 1].max() + reach_down) + 2, size_h)
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue
        xs = np.arange(x0, x1, dtype=np.float64)
        ys = np.arange(y0, y1, dtype=np.float64)[:, None]
        top = curve_at(up[:, 0], ys=up[:, 1], at=xs)
        closure = np.maximum(curve_at(low[:, 0], ys=low[:, 1], at=xs), top)  # where the lid meets the lower lid
        along = np.clip((xs - left) / max(right - left, 1.0), 0.0, 1.0)
        wide = np.clip((xs - left + reach_x) / max(right - left + 2 * reach_x, 1.0), 0.0, 1.0)
        lid = 0.5 * _sample_rows(frame, xs, top - 0.07 * u, blur=0.05 * u) + 0.5 * colours[e]
        below = _sample_rows(frame, xs, closure + reach_down + 0.05 * u, blur=0.05 * u)
        t = smoothstep(0.0, reach_down, ys - closure)[..., None]
        skin = lid[None] + (below - lid)[None] * t
        skin *= 1.0 - 0.1 * np.exp(-(((ys - closure) / (0.04 * u)) ** 2))[..., None]  # the lid rounds in
        inside = smoothstep(-0.05 * u - 1.0, -0.02 * u, ys - top)
        inside *= smoothstep(reach_down, 0.4 * reach_down, ys - closure)
        taper = smoothstep(0.0, 0.15, wide) * smoothstep(1.0, 0.85, wide)
        cover = (inside * taper * cover_alpha)[..., None]
        patch = frame[y0:y1, x0:x1].astype(np.float32)
        patch += (skin - patch) * cover
        outer = along if e == 1 else 1.0 - along  # the left eye's outer corner is on the image's right
        lash_w = max(0.8, 0.018 * u) * (0.6 + 0.8 * outer)  # thicker towards the outer corner
        lash_taper = smoothstep(0.0, 0.12, along) * smoothstep(1.0, 0.88, along)
        lash = (np.exp(-(((ys - closure - 0.3) / lash_w) ** 2)) * lash_taper * lash_alpha * 0.85)[..., None]
        dark = np.minimum(colours[e] * 0.25, 60.0)
        patch += (dark - patch) * lash
        frame[y0:y1, x0:x1] = np.clip(patch, 0, 255).round().astype(np.uint8)


def refine_lids(image: np.ndarray, *, points: np.ndarray, unit: float) -> np.ndarray:
    """``points`` with the lid contours moved out to where the skin begins (a copy).

    On drawn and stylised eyes the landmark contour often sits inside the visible eye; a blink that
    closes only that contour leaves a band of white and iris. Each lid point is moved along its
    column (up for the upper lid, at most 0.12 u; down for the lower lid, at most 0.06 u) to the
    first pixels whose colour matches the skin above or below the eye. On photographs the
    landmarks already lie on the lid margin and move by a pixel or two.
    """
    out = np.array(points, dtype=np.float64, copy=True)
    lab = cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_RGB2LAB), (0, 0), 1.0).astype(np.float32)
    h, w = lab.shape[:2]
    u = float(unit)
    weight = np.array([0.5, 1.0, 1.0], np.float32)  # lightness counts less than hue: lids are shaded

    def skin_at(x: float, y: float) -> np.ndarray:
        r = max(1, round(0.03 * u))
        xi, yi = round(x), round(y)
        patch = lab[max(yi - r, 0):min(yi + r + 1, h), max(xi - r, 0):min(xi + r + 1, w)]
        if not patch.size:
            return lab[min(max(yi, 0), h - 1), min(max(xi, 0), w - 1)]
        return np.median(patch.reshape(-1, 3), axis=0)

    for upper, lower, _, brow in EYES:
        brow_y = points[brow, 1].mean()
        for lid, direction, reach in ((upper, -1, 0.12 * u), (lower, 1, 0.06 * u)):
            interior = lid[1:-1]
            shifts = np.zeros(len(interior))
            for k, i in enumerate(interior):
                x, y = points[i, 0], points[i, 1]
                if direction < 0:
                    ref = skin_at(x, y - 0.45 * max(y - brow_y, 0.1 * u))
                else:
                    ref = skin_at(x, y + 0.15 * u)
                steps = np.arange(0, math.ceil(reach) + 1)
                rows = np.clip(np.round(y + direction * steps).astype(int), 0, h - 1)
                col = int(np.clip(round(x), 0, w - 1))
                delta = np.sqrt((((lab[rows, col] - ref) * weight) ** 2).sum(axis=1))
                skin = (delta < 14.0) & (np.roll(delta, -1) < 14.0)
                skin[-1] = False
                hits = np.flatnonzero(skin)
                if hits.size:
                    shifts[k] = max(steps[hits[0]] - 1, 0)
            smooth = np.array([np.median(shifts[max(k - 1, 0):k + 2]) for k in range(len(shifts))])
            out[interior, 1] += direction * smooth
    return out.astype(np.float32)
