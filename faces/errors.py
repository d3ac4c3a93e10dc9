"""The errors of ``faces``: a portrait or frame whose face cannot be used, and a backend that failed.

>>> from faces.errors import FaceError, FaceTooSmallError, NoFaceError
>>> err = FaceTooSmallError("the face is 40 px wide; at least 96 px are needed")
>>> isinstance(err, FaceError), err.http_status, err.exit_code, str(NoFaceError("no face found in the portrait"))
(True, 422, 2, 'no face found in the portrait')

Errors raised by the face backend (mediapipe) are translated into these at the package
boundary, so callers only ever see this tree.
"""

from __future__ import annotations

from likeness import LikenessError
from likeness import errors as kinds


class FaceError(LikenessError):
    """The image cannot be used for its face: none, several, too small, or not an RGB image."""

    http_status = 422


class NoFaceError(FaceError):
    """No face was found in the image."""


class MultipleFacesError(FaceError):
    """More than one face was found where exactly one is needed."""


class FaceTooSmallError(FaceError):
    """The face is narrower than the minimum width in pixels."""


class FaceBackendError(kinds.BackendError, FaceError):
    """The face backend is not installed or failed on an input it should handle (an operator's problem)."""


class IdentityModelError(FaceBackendError):
    """An identity model is missing, altered (its sha256 differs from the pinned one) or not of the expected shape."""
