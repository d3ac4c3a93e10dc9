"""The face rig: a portrait framed like VASA-1 (512², eyes level) with everything rendering needs.

>>> import cv2, matplotlib.cbook
>>> from faces import find_face
>>> from generator.rig import build_rig
>>> photo = cv2.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))[..., ::-1].copy()
>>> rig = build_rig(photo, find_face(photo))
>>> rig.image.shape, round(rig.unit / rig.size, 2)
((512, 512, 3), 0.18)

Framing: the portrait is rotated so the eye centres are level, scaled so the interocular
distance (measured in 3D, so a turned face is not enlarged) is 18 % of the frame (``zoom``
scales it), the eyes' midpoint centred horizontally at 40 % of the height — head and some
shoulders in frame. Where the portrait does not cover the frame, its edge is replicated and
blurred. The rig keeps the aligned image, the landmarks in it, the warp mesh (the 468 mesh
points plus background anchors: two rings outside the face oval and the frame border), the
barycentric grid the warp evaluates per frame, the displacement bases of each facial control,
and the colours the mouth and eyelid painting use.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from faces.landmarks import FaceLandmarks
from generator import _eyes, _mouth
from generator import _topology as topo
from generator._bases import build_bases, smoothstep
from generator._warp import Box, LocalGather, WarpGrid, delaunay
from generator.errors import GeneratorError

INTEROCULAR = 0.18  # interocular distance / frame size at zoom 1
EYE_HEIGHT = 0.40  # eyes' midpoint / frame height
GRID_STEP = 2  # warp field resolution: one value per GRID_STEP² pixels
RINGS = ((1.3, 1), (1.75, 2))  # (scale of the face oval about its centroid, anchor kind)
EDGE_GAP = 12  # anchors keep this many pixels from the frame's edge


@dataclass(frozen=True, eq=False)
class PortraitRig:
    """A portrait ready to animate: the aligned ``size``² image and its precomputed warp rig.

    ``points`` (478, 3) are the landmarks in the aligned frame (z in the same pixel scale; the lid
    rows moved out to the visible lid line where the landmarks sit inside it, as on drawn eyes);
    ``transform`` (2, 3) maps portrait pixels to frame pixels; ``unit`` is the interocular
    distance in frame pixels (every displacement scales with it). ``vertices`` (N, 3) are the
    warp mesh's vertices (the 468 mesh points, then anchors of ``kind`` 1 inner ring, 2 outer
    ring, 3 frame border), their z the head's depth for turning; ``follow`` (N,) how much each
    follows the head's rigid motion (1 on the face, less on the hair and neck, 0 on the frame
    border) about ``pivot`` (x, y, z, near the neck); ``bases`` each control's vertex
    displacements. On the warp ``grid``: ``rest`` (gh, gw, 4) holds x, y, depth and follow per
    cell; ``fields`` the controls' displacement fields (and the iris fields ``gaze_x``,
    ``gaze_y``) cropped to ``box``; ``newton_boxes`` the mouth and eyes, where the inverse warp
    is refined; ``lips`` a gather for the lip adjustments (press, tuck). ``mouth_gap`` is the
    portrait's own inner-lip gap; the colours feed the mouth and eyelid painting.
    """

    image: np.ndarray
    points: np.ndarray
    transform: np.ndarray
    size: int
    zoom: float
    unit: float
    vertices: np.ndarray
    kind: np.ndarray
    follow: np.ndarray
    pivot: np.ndarray
    bases: dict[str, np.ndarray]
    grid: WarpGrid
    rest: np.ndarray
    fields: dict[str, np.ndarray]
    box: Box
    newton_boxes: tuple[Box, ...]
    lips: LocalGather
    gaze_travel: np.ndarray
    mouth_gap: float
    lip_colour: np.ndarray
    teeth_colour: np.ndarray
    lid_colours: np.ndarray


def _validated(portrait_rgb: np.ndarray, landmarks: FaceLandmarks, size: int, zoom: float) -> np.ndarray:
    image = portrait_rgb
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise GeneratorError("the portrait must be an RGB uint8 array of shape (height, width, 3)")
    if min(image.shape[:2]) < 16:
        raise GeneratorError(f"the portrait is {image.shape[1]}x{image.shape[0]} pixels; at least 16 a side are needed")
    points = np.asarray(getattr(landmarks, "points", landmarks), dtype=np.float64)
    if points.shape != (478, 3) or not np.isfinite(points).all():
        raise GeneratorError(f"the face landmarks must be 478 finite (x, y, z) points, not shape {points.shape}")
    if not 128 <= size <= 2048 or size % GRID_STEP:
        raise GeneratorError(f"the frame size must be an even number of pixels from 128 to 2048, not {size}")
    if not 0.5 <= zoom <= 2.0:
        raise GeneratorError(f"zoom must be between 0.5 and 2.0, not {zoom}")
    return points


def _frame(image: np.ndarray, points: np.ndarray, size: int, zoom: float) -> tuple[np.ndarray, np.ndarray, float]:
    right = points[topo.RIGHT_EYE].mean(axis=0)  # the subject's right eye: the image's left
    left = points[topo.LEFT_EYE].mean(axis=0)
    interocular = float(np.linalg.norm(left - right))
    if interocular < 4.0:
        raise GeneratorError("the face landmarks are degenerate: the eyes are less than 4 pixels apart")
    angle = np.degrees(np.arctan2(left[1] - right[1], left[0] - right[0]))
    scale = INTEROCULAR * size * zoom / interocular
    centre = (left[:2] + right[:2]) / 2.0
    matrix: np.ndarray = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(angle), scale)
    matrix[:, 2] += np.array([size / 2.0, EYE_HEIGHT * size]) - centre
    source = image
    pre = 1.0
    if scale < 0.75:  # shrink with area averaging first, so the warp does not alias
        pre = scale * 1.25
        source = cv2.resize(image, None, fx=pre, fy=pre, interpolation=cv2.INTER_AREA)
    m = matrix.copy()
    m[:, :2] /= pre
    aligned = cv2.warpAffine(source, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    covered = cv2.warpAffine(np.full(source.shape[:2], 255, np.uint8), m, (size, size), flags=cv2.INTER_NEAREST)
    if (covered < 255).any():  # pad: the replicated edge, blurred more the further it is from the portrait
        distance = cv2.distanceTransform((covered < 255).astype(np.uint8), cv2.DIST_L2, 5)[..., None]
        out = aligned.astype(np.float32)
        for sigma in (size / 100.0, size / 30.0, size / 10.0):
            blurred = cv2.GaussianBlur(aligned, (0, 0), sigmaX=sigma).astype(np.float32)
            w = np.clip(distance / (2.0 * sigma), 0.0, 1.0)
            out = out * (1.0 - w) + blurred * w
        aligned = out.round().astype(np.uint8)
    return aligned, matrix, interocular * scale


def _anchors(points: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    oval = points[topo.FACE_OVAL, :2]
    centroid = oval.mean(axis=0)
    anchors, kinds = [], []
    for factor, kind in RINGS:
        ring = centroid + factor * (oval - centroid)
        keep = (ring >= EDGE_GAP).all(axis=1) & (ring <= size - 1 - EDGE_GAP).all(axis=1)
        anchors.append(ring[keep])
        kinds += [kind] * int(keep.sum())
    edge = np.linspace(-1.0, float(size), 9)
    border = np.unique(np.concatenate([
        np.stack([edge, np.full(9, -1.0)], 1), np.stack([edge, np.full(9, float(size))], 1),
        np.stack([np.full(9, -1.0), edge], 1), np.stack([np.full(9, float(size)), edge], 1)]), axis=0)
    anchors.append(border)
    kinds += [3] * len(border)
    return np.concatenate(anchors).astype(np.float64), np.asarray(kinds, np.int64)


def _lip_colour(image: np.ndarray, outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Median colour of the lips: inside the outer lip line, outside the inner one."""
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(outer).astype(np.int32)], (255,))
    cv2.fillPoly(mask, [np.round(inner).astype(np.int32)], (0,))
    if mask.sum() < 255 * 20:
        return np.array([160.0, 90.0, 90.0], np.float32)
    return np.median(image[mask > 0].reshape(-1, 3), axis=0).astype(np.float32)


def _head_depth(points: np.ndarray, *, pivot_z: float, unit: float) -> np.ndarray:
    """Depth (468,) of the mesh points for turning the head: a smooth paraboloid fitted to the face, plus
    part of the landmarks' own relief near its centre (the nose). Near the outline the landmarks' depth
    falls away too steeply for a 2D warp — points there would overtake each other (fold) when the head
    turns — and the paraboloid's slope stays gentle enough for turns up to about 20°."""
    oval = points[topo.FACE_OVAL, :2]
    centre = oval.mean(axis=0)
    half = np.maximum(np.abs(oval - centre).max(axis=0), 0.5 * unit)
    rho2 = np.clip((((points[:468, :2] - centre) / half) ** 2).sum(axis=1), 0.0, 1.0)
    basis = 1.0 - rho2
    depth = float(np.clip((basis * (pivot_z - points[:468, 2])).sum() / max((basis * basis).sum(), 1e-6),
                          0.8 * unit, 1.3 * unit))
    smooth = pivot_z - depth * basis
    relief = (points[:468, 2] - smooth) * 0.4 * (1.0 - smoothstep(0.1, 0.45, rho2))
    return smooth + relief


def _newton_boxes(points: np.ndarray, *, unit: float, grid: WarpGrid) -> tuple[Box, ...]:
    """Grid boxes around the mouth and the eyes, where the warp stretches strongly (see WarpGrid.inverse)."""
    boxes = []
    margins = ((topo.LIPS_ALL, (0.3, 0.2, 0.3, 0.65)),  # left, up, right, down in face units
               (topo.RIGHT_EYE, (0.2, 0.3, 0.2, 0.2)), (topo.LEFT_EYE, (0.2, 0.3, 0.2, 0.2)))
    for rows, (left, up, right, down) in margins:
        x0, y0 = points[rows, :2].min(axis=0) - np.array([left, up]) * unit
        x1, y1 = points[rows, :2].max(axis=0) + np.array([right, down]) * unit
        gh, gw = grid.shape
        cells = np.array([y0, y1, x0, x1]) / grid.step
        boxes.append((int(max(cells[0], 0)), int(min(np.ceil(cells[1]), gh)),
                      int(max(cells[2], 0)), int(min(np.ceil(cells[3]), gw))))
    return tuple(boxes)


def build_rig(portrait_rgb: np.ndarray, landmarks: FaceLandmarks, *, size: int = 512, zoom: float = 1.0) -> PortraitRig:
    """Frame ``portrait_rgb`` around the face of ``landmarks`` (from :func:`faces.find_face`) and rig it."""
    points = _validated(portrait_rgb, landmarks, size, zoom)
    image, matrix, unit = _frame(portrait_rgb, points, size, zoom)
    scale = float(np.hypot(*matrix[:, 0]))
    pts = np.empty_like(points)
    pts[:, :2] = points[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    pts[:, 2] = points[:, 2] * scale
    pts[:, :2] = _eyes.refine_lids(image, points=pts, unit=unit)[:, :2]

    mesh = np.clip(pts[:468, :2], -0.5, size - 0.5)
    anchors, anchor_kind = _anchors(pts, size)
    vertices_xy = np.concatenate([mesh, anchors])
    kind = np.concatenate([np.zeros(468, np.int64), anchor_kind])
    mouth_y, chin_y, eye_y = (pts[13, 1] + pts[14, 1]) / 2.0, pts[152, 1], EYE_HEIGHT * size
    y = vertices_xy[:, 1]
    follow = np.ones(len(vertices_xy))
    follow[kind == 1] = (0.9 - 0.5 * smoothstep(mouth_y, chin_y + 0.3 * unit, y))[kind == 1]
    follow[kind == 2] = (0.5 - 0.45 * smoothstep(eye_y, chin_y + 0.5 * unit, y))[kind == 2]
    follow[kind == 3] = 0.0
    to_edge = np.minimum(vertices_xy, size - 1 - vertices_xy).min(axis=1)
    follow[kind != 0] *= smoothstep(EDGE_GAP - 4, 0.125 * size, to_edge[kind != 0])  # the frame edge stays put
    pivot = np.array([
        (pts[234, 0] + pts[454, 0]) / 2.0,
        (mouth_y + chin_y) / 2.0,
        (pts[234, 2] + pts[454, 2]) / 2.0 + 0.1 * unit,
    ])
    z = np.concatenate([_head_depth(pts, pivot_z=pivot[2], unit=unit), np.full(len(anchors), pivot[2])])
    vertices = np.column_stack([vertices_xy, z])

    bases = build_bases(pts, vertices=vertices_xy, kind=kind, unit=unit)
    # Triangulate with the mouth opened, so the lower lip's triangles use the lower lip's points even
    # where a closed mouth puts the upper and lower inner lips on top of each other.
    triangles = delaunay(vertices_xy + 0.5 * bases["jaw"], size=size)
    grid = WarpGrid.build(vertices_xy, size=size, step=GRID_STEP, triangles=triangles)
    fields = {name: grid.interpolate(basis) for name, basis in bases.items()}
    gaze, gaze_travel = _eyes.gaze_fields(pts, grid=grid, unit=unit)
    fields["gaze_x"], fields["gaze_y"] = gaze[0], gaze[1]
    moving = np.argwhere(np.any([np.abs(f).max(axis=-1) > 1e-3 for f in fields.values()], axis=0))
    (gy0, gx0), (gy1, gx1) = moving.min(axis=0), moving.max(axis=0) + 1
    fields = {name: np.ascontiguousarray(f[gy0:gy1, gx0:gx1]) for name, f in fields.items()}
    rest = np.concatenate([grid.centres, grid.interpolate(np.column_stack([z, follow]))], axis=-1)
    cell_to_edge = np.minimum(grid.centres, size - 1 - grid.centres).min(axis=-1)
    rest[..., 3] *= smoothstep(0.0, 0.1 * size, cell_to_edge)  # head motion fades out before the frame's edge
    lips = np.r_[pts[topo.LIPS_UPPER_OUTER, :2], pts[topo.LIPS_LOWER_OUTER[::-1], :2]]
    inner = np.r_[pts[topo.LIPS_UPPER_INNER, :2], pts[topo.LIPS_LOWER_INNER[::-1], :2]]
    lip_colour = _lip_colour(image, lips, inner)
    lid_colours = _eyes.lid_colours(image, points=pts, unit=unit)
    return PortraitRig(
        image=image,
        points=pts.astype(np.float32),
        transform=matrix.astype(np.float32),
        size=size,
        zoom=zoom,
        unit=unit,
        vertices=vertices.astype(np.float32),
        kind=kind,
        follow=follow.astype(np.float32),
        pivot=pivot.astype(np.float32),
        bases=bases,
        grid=grid,
        rest=rest,
        fields=fields,
        box=(int(gy0), int(gy1), int(gx0), int(gx1)),
        newton_boxes=_newton_boxes(pts, unit=unit, grid=grid),
        lips=grid.local(topo.LIPS_ALL),
        gaze_travel=gaze_travel,
        mouth_gap=float(np.linalg.norm(pts[14, :2] - pts[13, :2])),
        lip_colour=lip_colour,
        teeth_colour=_mouth.teeth_colour(lid_colours.mean(axis=0)).astype(np.float32),
        lid_colours=lid_colours,
    )
