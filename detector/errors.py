"""Errors of the forensic tool."""

from __future__ import annotations

from likeness import LikenessError
from likeness import errors as kinds


class DetectorError(LikenessError):
    """The clip could not be analysed (unreadable, not a video, over the limits)."""

    http_status = 422


class ModelError(kinds.BackendError, DetectorError):
    """The companion classifier's model cannot be used (missing, unreadable, or not the file its card names)."""
