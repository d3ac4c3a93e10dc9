"""Displacement bases of the face rig: how each facial control moves the mesh vertices.

>>> import numpy as np
>>> from generator._bases import smoothstep
>>> smoothstep(0.0, 1.0, np.array([-1.0, 0.5, 2.0])).tolist()
[0.0, 0.5, 1.0]

Each basis is an (N, 2) array of pixel displacements of the rig's vertices (the 468 mesh points
first, then the background anchors) for a control at 1.0; a frame's non-rigid deformation is a
weighted sum of them. They are built once per portrait from its landmarks in the aligned frame,
with every amplitude a multiple of the face unit (the interocular distance), so a pose looks
the same at any zoom. Distances below are in that unit ``u``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from generator import _topology as topo

JAW_DROP = 0.36  # lower-lip drop at jaw_open=1
CORNER_DROP = 0.3  # share of it at the mouth corners
UPPER_LIP_RAISE = 0.05
SMILE_LIFT, SMILE_OUT, CHEEK_LIFT = 0.11, 0.06, 0.06
FROWN_DROP = 0.07
SPREAD, ROUND = 0.20, 0.30  # fraction of the mouth half-width the corners move
BROW_LIFT, BROW_DROP = 0.12, 0.06
BLINK_UPPER = 0.85  # share of the eye opening closed by the upper lid (the lower lid does the rest)


def smoothstep(edge0: float | np.ndarray, edge1: float | np.ndarray, x: npt.ArrayLike) -> np.ndarray:
    t = np.clip((np.asarray(x, np.float64) - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _gauss(xy: np.ndarray, centre: np.ndarray, sigma: float) -> np.ndarray:
    d2 = ((xy - centre) ** 2).sum(axis=1)
    return np.exp(-d2 / (2.0 * sigma * sigma))


def build_bases(points: np.ndarray, *, vertices: np.ndarray, kind: np.ndarray, unit: float) -> dict[str, np.ndarray]:
    """The bases for ``vertices`` (N, 2: mesh then anchors, ``kind`` 0 mesh, 1 inner ring, 2 outer ring, 3 border)."""
    u = float(unit)
    xy = np.asarray(vertices, np.float64)
    p = np.asarray(points, np.float64)[:, :2]
    n = len(xy)
    bases = {name: np.zeros((n, 2)) for name in (
        "jaw", "smile_up", "smile_down", "spread", "round", "brow_up", "brow_down", "blink_right", "blink_left")}
    ring_share = np.array([1.0, 0.5, 0.0, 0.0])[kind]  # the outer ring and the border never move with the face

    mouth = (p[13] + p[14]) / 2.0
    corners = p[[61, 291]]
    half_mouth = max(abs(corners[1, 0] - corners[0, 0]) / 2.0, 0.2 * u)
    chin = p[152]
    face_half = max(abs(p[454, 0] - p[234, 0]) / 2.0, 0.6 * u)
    lips = topo.LIPS_ALL
    lip_corners = topo.LIPS_CORNERS
    s = (xy[:, 0] - mouth[0]) / half_mouth  # across the mouth, −1 … 1 at the corners

    # Jaw: everything below the mouth line drops, the most at the chin, less towards the ears.
    t = (xy[:, 1] - mouth[1]) / max(chin[1] - mouth[1], 0.3 * u)
    beside = smoothstep(0.6, 1.3, np.abs(s))  # beside the mouth the cheek stretches from higher up
    region = smoothstep(-0.15 - 0.6 * beside, 0.45, t) * ring_share
    lateral = 1.0 - 0.7 * smoothstep(0.35, 1.0, np.abs(xy[:, 0] - mouth[0]) / face_half)
    jaw = bases["jaw"]
    jaw[:, 1] = JAW_DROP * u * region * lateral
    jaw[:, 0] = -0.05 * u * region * (xy[:, 0] - mouth[0]) / face_half
    at_corner = np.maximum(*(_gauss(xy, c, 0.18 * u) for c in corners))  # skin at the corners goes with them
    jaw[:, 1] += (CORNER_DROP * JAW_DROP * u - jaw[:, 1]) * at_corner
    # The lips open like an ellipse whose ends are the corners, which drop a share of the jaw's drop
    # and drag the lips' ends with them; the upper lip's middle rises a little.
    drop = JAW_DROP * u
    for rings, lower_lip in ((topo.LIPS_UPPER_RINGS, False), (topo.LIPS_LOWER_RINGS, True)):
        for ring in rings:
            centre = (xy[ring[0], 0] + xy[ring[-1], 0]) / 2.0
            half = max(abs(xy[ring[-1], 0] - xy[ring[0], 0]) / 2.0, 1.0)
            ellipse = np.clip(1.0 - ((xy[ring, 0] - centre) / half) ** 2, 0.0, 1.0) ** 0.9
            jaw[ring, 0] = 0.0
            if lower_lip:
                jaw[ring, 1] = CORNER_DROP * drop + (1.0 - CORNER_DROP) * drop * ellipse
            else:
                jaw[ring, 1] = CORNER_DROP * drop * (1.0 - ellipse) - UPPER_LIP_RAISE * u * ellipse
    jaw[lip_corners, 0] = -0.04 * u * np.sign(s[lip_corners])  # an open mouth is a little narrower

    # Corners of the mouth, and the skin around them, for smile / frown / spread / round.
    non_lip = np.ones(n, bool)
    non_lip[lips] = False
    near_corner = [_gauss(xy, c, 0.28 * u) for c in corners]
    side = np.sign(s)
    reach = np.clip(np.abs(s), 0.0, 1.0) ** 2

    def corner_field(dx: float, dy: float, *, linear: bool = False) -> np.ndarray:
        """Lip points move with the corners (in proportion to ``reach``, or ``s`` if ``linear``), skin nearby fades."""
        out = np.zeros((n, 2))
        out[lips, 0] = dx * (s[lips] if linear else side[lips] * reach[lips])
        out[lips, 1] = dy * reach[lips]
        for k, sign in ((0, -1.0), (1, 1.0)):
            out[non_lip, 0] += dx * sign * near_corner[k][non_lip]
            out[non_lip, 1] += dy * near_corner[k][non_lip]
        return out

    bases["smile_up"] = corner_field(SMILE_OUT * u, -SMILE_LIFT * u)
    bases["smile_up"][lips, 1] -= 0.015 * u  # the whole mouth rises a little
    eye_outer = p[[33, 263]]
    for k in range(2):
        apex = (corners[k] + eye_outer[k]) / 2.0 + np.array([(-1.0 if k == 0 else 1.0) * 0.1 * u, 0.0])
        g = _gauss(xy, apex, 0.35 * u) * non_lip * (kind == 0)
        bases["smile_up"][:, 1] -= CHEEK_LIFT * u * g
    for lid in (topo.RIGHT_EYE_LOWER, topo.LEFT_EYE_LOWER):
        bases["smile_up"][lid, 1] -= 0.02 * u
    bases["smile_down"] = corner_field(-0.02 * u, FROWN_DROP * u)

    half_width = half_mouth
    bases["spread"] = corner_field(SPREAD * half_width, 0.0, linear=True)
    bases["round"] = corner_field(-ROUND * half_width, 0.0, linear=True)
    for rings in (topo.LIPS_UPPER_RINGS, topo.LIPS_LOWER_RINGS):
        inner = rings[-1][1:-1]
        for ring in rings[:-1]:
            towards_seam = xy[inner, 1] - xy[ring[1:-1], 1]  # spread thins the lips, rounding pouts them
            bases["spread"][ring[1:-1], 1] += 0.15 * towards_seam
            bases["round"][ring[1:-1], 1] -= 0.25 * towards_seam
    # rounding opens the lips a little in the middle (a small round opening)
    cols = np.clip(1.0 - s * s, 0.0, 1.0)
    for ring, share in ((topo.LIPS_UPPER_SEMI_INNER, 0.5), (topo.LIPS_UPPER_INNER, 1.0),
                        (topo.LIPS_LOWER_SEMI_INNER, -0.5), (topo.LIPS_LOWER_INNER, -1.0)):
        bases["round"][ring[1:-1], 1] -= 0.03 * u * share * cols[ring[1:-1]]

    # Brows: the brow moves fully, the skin below it to the upper lid in proportion, the forehead partly.
    top = p[10, 1]
    for brow, lid, eye in ((topo.RIGHT_BROW, topo.RIGHT_EYE_UPPER, topo.RIGHT_EYE),
                           (topo.LEFT_BROW, topo.LEFT_EYE_UPPER, topo.LEFT_EYE)):
        bc = p[brow].mean(axis=0)
        lid_y = p[lid, 1].min()
        across = np.exp(-(((xy[:, 0] - bc[0]) / (0.45 * u)) ** 2)) * (kind == 0)
        below = np.clip((lid_y - xy[:, 1]) / max(lid_y - bc[1], 0.1 * u), 0.0, 1.0)
        above = 1.0 - 0.6 * np.clip((bc[1] - xy[:, 1]) / max(bc[1] - top, 0.2 * u), 0.0, 1.0)
        w = np.where(xy[:, 1] >= bc[1], below**1.3, above) * across
        w[lid] = 0.0
        w[brow] = 1.0
        bases["brow_up"][:, 1] -= BROW_LIFT * u * w
        near = w * np.exp(-(((xy[:, 1] - bc[1]) / (0.25 * u)) ** 2))
        inward = np.sign(p[eye].mean(axis=0)[0] - p[6, 0])  # +1 on the image's right
        inner_half = smoothstep(0.3 * u, -0.3 * u, (xy[:, 0] - bc[0]) * inward)
        bases["brow_down"][:, 1] += BROW_DROP * u * near
        bases["brow_down"][:, 0] -= 0.04 * u * inward * near * inner_half

    # Blinks: the upper lid meets the lower one; the skin up to the brow follows, fading.
    for name, upper_lid, lower_lid, brow in (
        ("blink_right", topo.RIGHT_EYE_UPPER, topo.RIGHT_EYE_LOWER, topo.RIGHT_BROW),
        ("blink_left", topo.LEFT_EYE_UPPER, topo.LEFT_EYE_LOWER, topo.LEFT_BROW),
    ):
        b = bases[name]
        ux, uy = _sorted_curve(p[upper_lid])
        lx, ly = _sorted_curve(p[lower_lid])
        upper_y, lower_y = np.interp(xy[:, 0], ux, uy), np.interp(xy[:, 0], lx, ly)
        gap = np.clip(np.interp(xy[:, 0], lx, ly, left=0, right=0) - np.interp(xy[:, 0], ux, uy, left=0, right=0),
                      0.0, None)
        depth = np.maximum(upper_y - p[brow, 1].mean(), 0.1 * u)
        above = np.clip(1.0 - (upper_y - xy[:, 1]) / depth, 0.0, 1.0) ** 1.5
        inside_x = (xy[:, 0] > ux[0] - 0.15 * u) & (xy[:, 0] < ux[-1] + 0.15 * u) & (kind == 0)
        band = inside_x & (xy[:, 1] < upper_y)
        b[band, 1] = BLINK_UPPER * gap[band] * above[band]
        inside = inside_x & (xy[:, 1] >= upper_y) & (xy[:, 1] <= lower_y)
        closed_y = upper_y + BLINK_UPPER * gap  # points inside the eye go to where the lids meet
        b[inside, 1] = closed_y[inside] - xy[inside, 1]
        b[upper_lid, 1] = BLINK_UPPER * gap[upper_lid]
        b[lower_lid, 1] = -(1.0 - BLINK_UPPER) * gap[lower_lid]
    return {name: basis.astype(np.float32) for name, basis in bases.items()}


def _sorted_curve(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(points[:, 0])
    return points[order, 0], points[order, 1]
