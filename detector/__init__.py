"""The forensic tool behind ``detect clip.mp4``: provenance checks, watermark read and verdict.

>>> from detector import analyse, DetectionReport    # doctest: +SKIP
>>> analyse(Path("clip.mp4"), trust_anchors_pem=root_pem, watermark_key=key, repository=None).verdict
'no-provenance-found'
"""

from detector.analyse import analyse
from detector.errors import DetectorError
from detector.report import DetectionReport

__all__ = ["DetectionReport", "DetectorError", "analyse"]
