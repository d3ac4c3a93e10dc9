"""Errors of the generator: a portrait, audio or setting it cannot work with."""

from __future__ import annotations

from likeness import errors as kinds


class GeneratorError(kinds.InputError):
    """The generator cannot work with these inputs or settings."""


class SpeechError(GeneratorError):
    """The audio cannot be analysed as speech (empty, too short, not finite)."""
