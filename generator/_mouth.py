"""The inside of an open mouth: cavity, upper (and lower) teeth, tongue, painted between the inner lips.

>>> import numpy as np
>>> from generator._mouth import paint
>>> frame = np.full((64, 64, 3), 200, np.uint8)
>>> upper = np.array([[10, 30], [32, 26], [54, 30]], np.float64)
>>> lower = np.array([[10, 30], [32, 44], [54, 30]], np.float64)
>>> paint(frame, upper=upper, lower=lower, openness=1.0, teeth=0.0, tongue=0.0, unit=40.0,
...       lip_colour=np.array([170, 90, 90]))
>>> int(frame[38, 32].mean()) < 100, int(frame[5, 5].mean())
(True, 200)

Everything is drawn in the bounding box of the inner-lip polygon of the *warped* face, with
per-column curves of the upper and lower inner lip, so it is a few vectorised array operations
on a small patch. Sizes follow the face unit (interocular distance): upper teeth show at most
0.15 u below the upper lip, narrowing and darkening towards the corners as the dental arch
turns away; the tongue rises from the lower lip; the edges are feathered over about a pixel.
"""

from __future__ import annotations

import math

import numpy as np

from generator._bases import smoothstep
from generator._eyes import curve_at

TEETH = np.array([238.0, 230.0, 212.0])  # in a neutral, well-lit portrait
TONGUE = np.array([200.0, 100.0, 104.0])
# Tooth boundaries from the midline, in face units (central incisor, lateral, canine, premolars).
BOUNDARIES = np.array([0.0, 0.125, 0.225, 0.31, 0.38, 0.44])


def smooth_curve(points: np.ndarray, *, per: int = 4) -> np.ndarray:
    """A Catmull-Rom spline through ``points`` (K, 2), ``per`` samples a segment: (per·(K−1)+1, 2)."""
    p = np.asarray(points, np.float64)
    padded = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    t = np.linspace(0.0, 1.0, per, endpoint=False)[:, None, None]
    p0, p1, p2, p3 = padded[:-3], padded[1:-2], padded[2:-1], padded[3:]
    seg = 0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (3 * p1 - p0 - 3 * p2 + p3) * t**3)
    return np.vstack([seg.transpose(1, 0, 2).reshape(-1, 2), p[-1:]])


def teeth_colour(skin: np.ndarray) -> np.ndarray:
    """The teeth's colour in a portrait whose skin is ``skin`` (RGB): as dim and as tinted as its light."""
    skin = np.asarray(skin, np.float64)
    light = float(np.clip(skin.max() / 205.0, 0.6, 1.0))
    tint = 0.85 + 0.15 * skin / max(float(skin.max()), 1.0)
    return TEETH * tint * light


def paint(frame: np.ndarray, *, upper: np.ndarray, lower: np.ndarray, openness: float, teeth: float, tongue: float,
          unit: float, lip_colour: np.ndarray, teeth_rgb: np.ndarray = TEETH) -> None:
    """Paint the mouth interior into ``frame`` (in place) between the inner lip curves ``upper``, ``lower`` (K, 2)."""
    h, w = frame.shape[:2]
    upper, lower = smooth_curve(upper), smooth_curve(lower)
    x0 = max(math.floor(min(upper[:, 0].min(), lower[:, 0].min())) - 1, 0)
    x1 = min(math.ceil(max(upper[:, 0].max(), lower[:, 0].max())) + 2, w)
    y0 = max(math.floor(upper[:, 1].min()) - 2, 0)
    y1 = min(math.ceil(lower[:, 1].max()) + 3, h)
    if x1 - x0 < 3 or y1 - y0 < 2 or openness <= 0.0:
        return
    u = float(unit)
    xs = np.arange(x0, x1, dtype=np.float64)
    ys = np.arange(y0, y1, dtype=np.float64)[:, None]
    top = curve_at(upper[:, 0], ys=upper[:, 1], at=xs)
    bottom = np.maximum(curve_at(lower[:, 0], ys=lower[:, 1], at=xs), top)
    left, right = upper[:, 0].min(), upper[:, 0].max()
    mid = (left + right) / 2.0
    s = np.clip((xs - mid) / max((right - left) / 2.0, 1.0), -1.0, 1.0)
    gap = bottom - top
    below_top = ys - top
    above_bottom = bottom - ys

    # the cavity: dark red just inside the lips, darker deeper in and towards the corners
    lip = np.asarray(lip_colour, np.float64)
    edge, deep = 0.42 * lip, 0.1 * lip + 4.0
    depth = smoothstep(0.0, 0.1 * u, np.minimum(below_top, above_bottom))
    colour = edge + (deep - edge) * depth[..., None]
    colour *= (1.0 - 0.35 * smoothstep(0.55, 1.0, np.abs(s)))[None, :, None]
    shadow = 0.3 * lip

    # the tongue: rises from the lower lip, rounded, lighter on top
    if gap.max() > 1.0:
        rounded = np.sqrt(np.clip(1.0 - (s / 0.85) ** 2, 0.0, 1.0))
        rise = gap * (0.12 + 0.45 * float(np.clip(tongue, 0.0, 1.0))) * rounded
        surface = bottom - rise
        body = smoothstep(-0.8, 0.8, ys - surface) * (rise > 0.5)
        lit = 0.35 + 0.5 * np.exp(-(((ys - surface) / (0.06 * u + 1.0)) ** 2)) * (1.0 - 0.6 * s**2)
        tongue_col = shadow + (0.5 * TONGUE + 0.5 * lip - shadow) * lit[..., None]
        colour += (tongue_col - colour) * body[..., None]

    # teeth: the upper ones from under the upper lip; a hint of the lower ones when the mouth is wide open
    teeth = float(np.clip(teeth, 0.0, 1.0))
    if teeth > 0.0:
        offset = (xs - mid) / u
        seam = np.zeros_like(xs)
        for b in BOUNDARIES:
            for sign in (-1.0, 1.0) if b else (1.0,):
                seam = np.maximum(seam, np.exp(-((((offset - sign * b) * u) / (0.006 * u + 0.5)) ** 2)))
        arch = 1.0 - 0.75 * smoothstep(0.45, 1.0, np.abs(s))  # the arch turns away into the cheeks' shadow
        height = teeth * 0.15 * u * (1.0 - 0.4 * s**2) - 0.012 * u * seam
        band = smoothstep(-0.5, 0.5, below_top) * smoothstep(0.7, -0.7, below_top - height)
        lit = arch * (1.0 - 0.2 * seam) * (0.7 + 0.3 * smoothstep(0.0, 0.03 * u + 1.0, below_top))
        upper_col = shadow + (teeth_rgb - shadow) * lit[..., None]
        colour += (upper_col - colour) * (band * teeth**0.5)[..., None]
        lower_h = teeth * 0.045 * u * smoothstep(0.15 * u, 0.32 * u, gap) * np.clip(1.0 - (s / 0.6) ** 2, 0.0, 1.0)
        lower_band = smoothstep(-0.7, 0.7, lower_h - above_bottom) * (lower_h > 0.5) * 0.8
        lower_col = shadow + (teeth_rgb - shadow) * (0.4 * arch * (1.0 - 0.3 * seam))[..., None]
        colour += (lower_col - colour) * lower_band[..., None]

    inside = smoothstep(-0.6, 0.6, below_top) * smoothstep(-0.6, 0.6, above_bottom) * (gap > 0.05)
    alpha = (inside * float(np.clip(openness, 0.0, 1.0)))[..., None]
    patch = frame[y0:y1, x0:x1].astype(np.float64)
    frame[y0:y1, x0:x1] = np.clip(patch + (colour - patch) * alpha, 0, 255).round().astype(np.uint8)
