"""Inputs the generator tests share: Grace Hopper's photo (matplotlib's sample) and a sentence spoken by
espeak-ng, with its transcript (``SENTENCE`` in motion_factories)."""

from __future__ import annotations

import shutil
import subprocess

import matplotlib.cbook
import numpy as np
import pytest
from motion_factories import SENTENCE

from media import Audio, read_audio, read_image


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    return read_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Audio:  # type: ignore[no-untyped-def]
    assert shutil.which("espeak-ng"), "espeak-ng is not installed (scripts/setup installs it)"
    path = tmp_path_factory.mktemp("speech") / "s.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), SENTENCE], check=True, capture_output=True)
    return read_audio(path)
