"""What happens to a clip in the wild, done to frames in memory: H.264 at a CRF, downscaling.

>>> import numpy as np
>>> from detector._augment import h264_roundtrip, rescale
>>> frames = [np.full((64, 64, 3), 16 * i, np.uint8) for i in range(6)]
>>> small = rescale(frames, factor=0.5)
>>> small[0].shape
(32, 32, 3)
>>> coded = h264_roundtrip(small, crf=30, fps=25)
>>> len(coded), coded[0].shape, coded[0].dtype
(6, (32, 32, 3), dtype('uint8'))

The encoder and decoder are bare PyAV codec contexts: packets go from one to the other in
memory, and no container, file or stream is ever written (the release path stays the only
writer of video, ``media._mp4writer``). Used to build the classifier's training data.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import av
import cv2
import numpy as np


def rescale(frames: Sequence[np.ndarray], *, factor: float) -> list[np.ndarray]:
    """Frames resized by ``factor`` (area averaging when shrinking), to even sizes for 4:2:0."""
    if factor == 1.0:
        return list(frames)
    height, width = frames[0].shape[:2]
    size = (max(2, round(width * factor / 2) * 2), max(2, round(height * factor / 2) * 2))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    return [cv2.resize(frame, size, interpolation=interpolation) for frame in frames]


def wild_copy(frames: Sequence[np.ndarray], *, crf: float, fps: float, factor: float = 1.0) -> list[np.ndarray]:
    """What a clip looks like after the wild: resized by ``factor`` (:func:`rescale`), then through H.264 at
    ``crf`` and back (:func:`h264_roundtrip`), in memory. The public form for training workflows."""
    return h264_roundtrip(rescale(frames, factor=factor), crf=crf, fps=fps)


def h264_roundtrip(
    frames: Sequence[np.ndarray], *, crf: float, fps: float, preset: str = "veryfast"
) -> list[np.ndarray]:
    """Frames after H.264 (libx264, 4:2:0) at ``crf`` and back, as one GOP-structured stream."""
    if not frames:
        return []
    height, width = frames[0].shape[:2]
    even = [f if (width % 2 == 0 and height % 2 == 0) else f[: height // 2 * 2, : width // 2 * 2] for f in frames]
    height, width = even[0].shape[:2]
    rate = Fraction(round(fps * 1000), 1000)
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = 1 / rate
    encoder.framerate = rate
    encoder.options = {"crf": f"{crf:g}", "preset": preset}
    encoder.thread_count = 1
    decoder = av.CodecContext.create("h264", "r")
    out: list[np.ndarray] = []

    def drain(packets: list[av.Packet]) -> None:
        for packet in packets:
            out.extend(frame.to_ndarray(format="rgb24") for frame in decoder.decode(packet))

    for index, frame in enumerate(even):
        video = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        video.pts = index
        drain(encoder.encode(video))
    drain(encoder.encode(None))
    out.extend(frame.to_ndarray(format="rgb24") for frame in decoder.decode(None))
    return out
