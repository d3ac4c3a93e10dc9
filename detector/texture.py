"""The "frozen texture" cue: how much of the background's fine texture is renewed from frame to frame.

>>> import numpy as np
>>> from detector.texture import frozen_texture, small_grey
>>> rng = np.random.default_rng(0)
>>> still = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
>>> box = (130.0, 80.0, 190.0, 160.0)                       # the face: x0, y0, x1, y1 in frame pixels
>>> frozen = [small_grey(still)[0]] * 4                      # the same texture, four times
>>> live = [small_grey(np.clip(still + rng.normal(0, 6, still.shape), 0, 255).astype(np.uint8))[0]
...         for _ in range(4)]                               # fresh sensor noise in every frame
>>> scale = small_grey(still)[1]
>>> round(frozen_texture(frozen, box, scale=scale), 2) < -5, frozen_texture(live, box, scale=scale) > -2
(True, True)

Our default generator animates one still by warping it (:mod:`generator.render`): every frame's
high-frequency texture is a geometric warp of the same portrait's, and the scene away from the
face hardly moves. A camera renews sensor noise, light and small movements in every frame. So,
after compensating the motion between consecutive frames (dense Farnebäck optical flow, estimated at
half of ``SIDE`` px and upsampled), the high-pass residual (frame − Gaussian blur, σ = 1 px) of a
generated clip's background is almost the previous frame's, warped; a real clip's much less so.

:func:`frozen_texture` returns, for a window of consecutive frames, the log of the ratio between
the standard deviation of that motion-compensated residual *difference* and of the residual
itself, over the *background*: the frame outside a box 1.6 times the face's width and 1.76 times its
height around the face (landmark bounds). Measured on our files (docs/detector.md): −2.0 to −5.6
for the generator's twins of the 7 shared clips; −0.8 to −1.9 for the real clips as they are, up
to −2.7 after downscaling and H.264 (compression renews less of the texture, so a real clip
reads more frozen). It does not depend on how smooth the face looks: lp_d10, whose filtered skin
fools the CNN, reads −1.4. ``None`` when under ``MIN_BACKGROUND`` of
the frame is background (a face filling the frame): the combined model then relies on the CNN.
Only numpy and OpenCV.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import cv2
import numpy as np

SIDE = 256  # frames are analysed with their long side downscaled to this
SIGMA = 1.0  # high-pass: frame minus a Gaussian blur of this σ (px at SIDE)
BOX_WIDTH = 1.6  # background: outside this many face widths …
BOX_HEIGHT = 1.76  # … and face heights, around the face's centre
BORDER = 4  # px at SIDE ignored along the frame's edges (warping borders)
MIN_BACKGROUND = 0.05  # share of the frame that must be background
FLOOR = 1e-3


def small_grey(frame: np.ndarray) -> tuple[np.ndarray, float]:
    """(grey float32 frame with its long side at most ``SIDE``, the scale applied)."""
    height, width = frame.shape[:2]
    scale = min(1.0, SIDE / max(height, width))
    if scale < 1.0:
        frame = cv2.resize(frame, (max(1, round(width * scale)), max(1, round(height * scale))),
                           interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32), scale


def face_box(points: np.ndarray) -> tuple[float, float, float, float]:
    """The landmarks' bounding box (x0, y0, x1, y1) in frame pixels."""
    xy = np.asarray(points)[:, :2]
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def background_mask(shape: tuple[int, int], box: tuple[float, float, float, float], *, scale: float) -> np.ndarray:
    """True outside the face's surroundings (see the module docstring), in the small frame."""
    height, width = shape
    x0, y0, x1, y1 = (v * scale for v in box)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half_w, half_h = (x1 - x0) * BOX_WIDTH / 2, (y1 - y0) * BOX_HEIGHT / 2
    yy, xx = np.mgrid[0:height, 0:width]
    mask = ~((np.abs(xx - cx) < half_w) & (np.abs(yy - cy) < half_h))
    mask[:BORDER], mask[-BORDER:], mask[:, :BORDER], mask[:, -BORDER:] = False, False, False, False
    return mask


def _highpass(grey: np.ndarray) -> np.ndarray:
    return grey - cv2.GaussianBlur(grey, (0, 0), SIGMA)


def _flow(after: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Dense flow from ``after`` back to ``before``, estimated at half resolution (speed) and upsampled."""
    height, width = after.shape
    half = (max(8, width // 2), max(8, height // 2))
    # cv2's stub requires the output flow; OpenCV takes None for it (and makes the array)
    small = cv2.calcOpticalFlowFarneback(cv2.resize(after, half, interpolation=cv2.INTER_AREA),
                                         cv2.resize(before, half, interpolation=cv2.INTER_AREA),
                                         None, 0.5, 3, 15, 3, 5, 1.2, 0)  # type: ignore[call-overload]
    flow = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    flow[..., 0] *= width / half[0]
    flow[..., 1] *= height / half[1]
    return flow


def frozen_texture(
    greys: Sequence[np.ndarray], box: tuple[float, float, float, float], *, scale: float
) -> float | None:
    """log(std of the motion-compensated residual change / std of the residual) over the background
    of consecutive small grey frames (:func:`small_grey`); ``box`` is the face in frame pixels."""
    if len(greys) < 2:
        return None
    height, width = greys[0].shape
    mask = background_mask((height, width), box, scale=scale)
    if mask.mean() < MIN_BACKGROUND:
        return None
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    change, level = [], []
    previous = _highpass(greys[0])
    for before, after in itertools.pairwise(greys):
        current = _highpass(after)
        flow = _flow(after, before)
        warped = cv2.remap(previous, xx + flow[..., 0], yy + flow[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        change.append(float((current - warped)[mask].std()))
        level.append(float(current[mask].std()))
        previous = current
    return math.log(max(FLOOR, float(np.mean(change))) / max(FLOOR, float(np.mean(level))))
