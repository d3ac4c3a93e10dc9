"""Errors of the forensic tool."""

from __future__ import annotations

from likeness.errors import LikenessError


class DetectorError(LikenessError):
    """The clip could not be analysed (unreadable, not a video, over the limits)."""

    exit_code = 2
    http_status = 422


class ModelError(DetectorError):
    """The companion classifier's model cannot be used (missing, unreadable, or not the file its card names)."""

    exit_code = 1
    http_status = 500
