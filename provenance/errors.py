"""Errors of the provenance package. Provenance fails closed: any of these means no video leaves.

    ProvenanceError
    ├── KeyMaterialError     signing identity or watermark key missing, unreadable, wrong mode, placeholder
    ├── SigningError         the C2PA manifest could not be built or signed
    ├── WatermarkError       a frame could not be marked (too small, wrong shape/type)
    ├── VerificationError    a file could not be read for verification (not hostile-input safe otherwise)
    └── ReleaseError         the release path failed; nothing was written at the destination
"""

from __future__ import annotations

from likeness import LikenessError
from likeness import errors as kinds


class ProvenanceError(LikenessError):
    """Base of the provenance errors."""

    http_status = 500


class KeyMaterialError(kinds.UnusableKeyError, ProvenanceError):
    """Signing identity or watermark key is missing, unreadable or not acceptable here."""


class SigningError(ProvenanceError):
    """The C2PA manifest could not be built or signed."""


class WatermarkError(ProvenanceError):
    """A frame could not be watermarked."""


class VerificationError(kinds.InputError, ProvenanceError):
    """A file could not be verified (unreadable, not an MP4 the verifier understands)."""


class ReleaseError(ProvenanceError):
    """The release path failed; nothing was written at the destination."""
