"""The errors of ``speech``.

>>> from speech.errors import SpeechError, SynthesisError
>>> issubclass(SynthesisError, SpeechError), SynthesisError.http_status
(True, 503)

The tree::

    SpeechError
    └── SynthesisError            speech could not be synthesised (espeak-ng missing or failing)
"""

from __future__ import annotations

from likeness import LikenessError


class SpeechError(LikenessError):
    """Base of the audio front-end's errors."""


class SynthesisError(SpeechError):
    """Speech could not be synthesised: espeak-ng is missing (scripts/setup installs it) or failed."""

    http_status = 503


__all__ = ["SpeechError", "SynthesisError"]
