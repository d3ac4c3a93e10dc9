"""Helpers for the faces tests: real images, transformed (imported by the tests and their conftest)."""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np

# The shared portraits, each one person facing the camera (see ../shared/data/README.md).
SHARED_PORTRAITS = ["ha_1.jpg", "lp_s42.jpg", "lp_s5.jpg", "lp_s7.jpg", "lp_s9.jpg", "st_art_3.png", "st_art_5.png",
                    "st_happy.png", "st_sad1.png"]


def grace_hopper_path() -> Path:
    """Grace Hopper's portrait (public domain), shipped with matplotlib: always present."""
    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def scaled(image: np.ndarray, factor: float) -> np.ndarray:
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(image, None, fx=factor, fy=factor, interpolation=interpolation))


def rotated(image: np.ndarray, degrees: float, *, centre: tuple[float, float]) -> np.ndarray:
    """``image`` turned by ``degrees`` about ``centre`` (OpenCV's sign: positive is counter-clockwise as seen)."""
    matrix = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    return cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE)


def shifted(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``image`` moved by (dx, dy) pixels, the uncovered edge repeated."""
    matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    return cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def mirrored(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[:, ::-1])


def landscape(width: int = 640, height: int = 480) -> np.ndarray:
    """A face-free scene: sky-to-grass gradient, a sun, a house and a tree."""
    t = np.linspace(0.0, 1.0, height)[:, None, None]
    image = (np.array([120, 170, 230]) * (1 - t) + np.array([60, 120, 40]) * t) * np.ones((1, width, 1))
    image = image.astype(np.uint8)
    cv2.circle(image, (width * 4 // 5, height // 5), height // 12, (250, 240, 180), -1)
    cv2.rectangle(image, (width // 6, height // 2), (width // 3, height * 5 // 6), (150, 90, 60), -1)
    roof = np.array([[width // 7, height // 2], [width * 9 // 24, height // 2], [width // 4, height // 3]])
    cv2.fillPoly(image, [roof], (120, 40, 30))
    cv2.circle(image, (width * 3 // 5, height * 11 // 20), height // 8, (30, 90, 30), -1)
    trunk_x = width * 3 // 5
    cv2.rectangle(image, (trunk_x - 6, height * 11 // 20), (trunk_x + 6, height * 4 // 5), (70, 50, 30), -1)
    return image
