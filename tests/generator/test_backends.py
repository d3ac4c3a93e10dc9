"""The one `Generator` interface: both backends satisfy it, the registry names them, and no import cycle."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from generator import (
    DefaultGenerator,
    Generation,
    Generator,
    GeneratorError,
    PreparedGeneration,
    available_backends,
    get_generator,
)
from generator.learned import LearnedGenerator
from media import Audio


def test_both_backends_are_generators_with_a_name_and_a_version() -> None:
    default: Generator = DefaultGenerator()  # mypy checks these assignments against the protocol
    learned: Generator = LearnedGenerator()
    for name, generator in (("default", default), ("learned", learned)):
        assert isinstance(generator, Generator)
        assert generator.name == name and generator.version
        assert type(get_generator(name)) is type(generator)


def test_a_prepared_generation_is_the_protocols(portrait: np.ndarray, speech: Audio) -> None:
    generation: PreparedGeneration = get_generator().prepare(portrait, speech)
    assert isinstance(generation, Generation) and isinstance(generation, PreparedGeneration)
    assert generation.n_frames > 0 and generation.fps == 25.0 and generation.audio is speech


def test_the_registry_knows_exactly_the_two_backends() -> None:
    assert available_backends() == ["default", "learned"]
    with pytest.raises(GeneratorError, match="unknown generator backend 'vasa'; available: default, learned"):
        get_generator("vasa")


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    return set(ran.stdout.split())


def test_the_pipeline_and_the_default_backend_never_import_the_learned_one() -> None:
    """generator.pipeline does not import generator.learned (nor torch): the learned backend imports it, one way."""
    for statement in ("import generator.pipeline", "import generator", "from generator import get_generator; "
                      "get_generator('default')"):
        loaded = _modules_after(statement)
        assert "generator.pipeline" in loaded or statement == "import generator.pipeline"
        assert not {m for m in loaded if m == "generator.learned" or m.startswith("generator.learned.")}, statement
        assert "torch" not in loaded, statement
    assert "generator.learned.backend" in _modules_after("from generator import get_generator; "
                                                         "get_generator('learned')")
