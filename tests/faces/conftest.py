"""Fixtures for the faces tests: real faces only, never mocks.

Grace Hopper's portrait ships with matplotlib (public domain), so the core tests always have a
real face; the portraits and clips in ``../shared/data`` add paintings, cartoons and video (those
tests skip, with the reason, where the folder is absent).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faces import FaceLandmarks, find_face


@pytest.fixture(scope="session")
def grace_hopper_face(grace_hopper: np.ndarray) -> FaceLandmarks:
    return find_face(grace_hopper)


@pytest.fixture
def portraits(shared_data: Path) -> Path:
    return shared_data / "portraits"


@pytest.fixture
def clips(shared_data: Path) -> Path:
    return shared_data / "clips"
