"""Errors of the generator: a portrait, audio or setting it cannot work with."""

from __future__ import annotations

from likeness.errors import LikenessError


class GeneratorError(LikenessError):
    """The generator cannot work with these inputs or settings."""

    http_status = 422


class SpeechError(GeneratorError):
    """The audio cannot be analysed as speech (empty, too short, not finite)."""
