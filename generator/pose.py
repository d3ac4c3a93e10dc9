"""What one frame of the talking face looks like: the parameters motion plans and the renderer draws.

>>> from generator.pose import FramePose
>>> FramePose().jaw_open
0.0
>>> FramePose(jaw_open=0.6, blink_left=1.0).blink_left
1.0
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FramePose:
    """Per-frame face parameters, relative to the portrait as it is (all zero: the portrait itself).

    Head: rotation in degrees (yaw: turn to the viewer's right positive; pitch: nod down positive;
    roll: tilt clockwise positive), translation in pixels of the 512² frame, scale factor.
    Mouth: ``jaw_open`` 0 closed … 1 wide open; ``lip_width`` −1 rounded (OO) … +1 spread (EE);
    ``lip_press`` 0–1 lips pressed together (P/B/M); ``lip_tuck`` 0–1 lower lip to the upper teeth
    (F/V); ``teeth`` 0–1 how much teeth show; ``tongue`` 0–1 tongue tip visible (TH/L).
    Expression: ``smile`` −1 (corners down) … +1 (corners up); ``brow_raise`` −1 (frown) … +1.
    Eyes: ``blink_left``/``blink_right`` 0 open … 1 closed (the subject's left and right);
    ``gaze_x``/``gaze_y`` iris offset as a fraction of its free travel, −1 … +1 (+x to the viewer's
    right, +y down).
    """

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    tx: float = 0.0
    ty: float = 0.0
    scale: float = 1.0
    jaw_open: float = 0.0
    lip_width: float = 0.0
    lip_press: float = 0.0
    lip_tuck: float = 0.0
    teeth: float = 0.0
    tongue: float = 0.0
    smile: float = 0.0
    brow_raise: float = 0.0
    blink_left: float = 0.0
    blink_right: float = 0.0
    gaze_x: float = 0.0
    gaze_y: float = 0.0
