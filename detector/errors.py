"""Errors of the forensic tool."""

from __future__ import annotations

from likeness.errors import LikenessError


class DetectorError(LikenessError):
    """The clip could not be analysed (unreadable, not a video, over the limits)."""

    exit_code = 2
    http_status = 422
