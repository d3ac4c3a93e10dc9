"""`detect` on a clip that is huge once decoded: the frames are decoded in the sandbox, scaled down.

A 4096² clip of black frames is ~100 KiB on disk and 50 MiB a frame as RGB. Before, ``detect``
decoded every frame at full size in its own process (21 s, 728 MB resident here; 50 s and 823 MB
in the issue); now frames larger than ``DECODE_MAX_SIDE`` are scaled down in the decoder's RGB
conversion, inside the sandbox, one at a time. Speed is measured in bench/, not asserted here.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from test_detect_cli import detect_json

from detector import analyse
from detector.analyse import DECODE_MAX_SIDE
from gateway.settings import Settings
from provenance import init_identity

FFMPEG = shutil.which("ffmpeg")
KEY = b"k" * 32


def _lavfi(path, source: str, *, seconds: float = 2.0):  # type: ignore[no-untyped-def]
    if FFMPEG is None:
        pytest.skip("the ffmpeg CLI is not installed (scripts/setup installs it)")
    subprocess.run([FFMPEG, "-v", "error", "-f", "lavfi", "-i", source, "-t", str(seconds), "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True, timeout=120)
    return path


@pytest.fixture(scope="module")
def huge_clip(tmp_path_factory):  # type: ignore[no-untyped-def]
    path = _lavfi(tmp_path_factory.mktemp("huge") / "black4096.mp4", "color=black:s=4096x4096:r=25")
    assert path.stat().st_size < 500_000
    return path


def test_a_4096_square_clip_is_analysed_at_1920(huge_clip):
    report = analyse(huge_clip, trust_anchors_pem=None, watermark_key=KEY, repository=None, classifier=None)
    assert (report.video["width"], report.video["height"], report.video["frames"]) == (4096, 4096, 50)
    assert DECODE_MAX_SIDE == 1920
    assert report.video["analysed_size"] == [1920, 1920]
    assert report.watermark.checked and report.watermark.frames_read == 50
    assert report.verdict == "no-provenance-found"


def test_clips_up_to_1080p_are_analysed_as_they_are(tmp_path):
    clip = _lavfi(tmp_path / "card.mp4", "testsrc=s=1920x1080:r=25", seconds=1.0)
    report = analyse(clip, trust_anchors_pem=None, watermark_key=KEY, repository=None, classifier=None)
    assert report.video["analysed_size"] == [1920, 1080]
    without = analyse(clip, trust_anchors_pem=None, watermark_key=None, repository=None, classifier=None)
    assert without.video["analysed_size"] is None  # nothing to read: no frame was decoded


def test_the_detect_cli_analyses_the_huge_clip(huge_clip, tmp_path):
    data_dir = tmp_path / "var"
    init_identity(Settings.for_tests(data_dir).keys_dir)
    report = detect_json(data_dir, huge_clip)  # exit 0, no traceback, with the companion classifier
    assert report["video"]["analysed_size"] == [1920, 1920]
    assert report["verdict"] == "no-provenance-found"
    assert json.dumps(report)
