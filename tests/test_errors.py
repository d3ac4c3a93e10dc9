"""Each error's HTTP status and CLI exit code, pinned; the kinds in :mod:`likeness.errors` own them once.

The table was taken from the tree as it stood before the kinds existed, so that moving the statuses
into the kinds provably changed none of them: every class keeps its status, its exit code and the
bases it had then (every ``except`` written against them still catches). Changed on purpose since, and
marked with their kind: an unavailable store (the job store, queue, blob storage, manifest repository,
database) and unusable provenance keys or a tampered stored input exit 1 like every other operator's
problem, where they exited 2, the code for a refused input. The table is ``tests/error_codes.txt``.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from likeness.errors import LikenessError

MODULES = ["likeness.errors", "likeness.db", "likeness.client.errors", "audit.errors", "consent.errors",
           "detector.errors", "faces.errors", "gateway.errors", "generations.errors", "generator.errors",
           "media.errors", "partners.errors", "policy.errors", "provenance.errors", "provenance.repository",
           "speech.errors"]
PACKAGES = ["likeness", "media", "speech", "faces", "policy", "consent", "audit", "generator", "provenance",
            "detector", "partners", "generations"]


def _table(path: Path) -> dict[str, tuple[int, int, tuple[str, ...]]]:
    """``tests/error_codes.txt``: a row a class (the package errors and the kinds): status, exit code, bases."""
    rows = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            dotted, status, exit_code, *bases = line.split()
            rows[dotted] = (int(status), int(exit_code), tuple(b for b in bases if b != "-"))
    return rows


TABLE = _table(Path(__file__).with_name("error_codes.txt"))


def _class(dotted: str) -> type[LikenessError]:
    module, name = dotted.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def _defined_in(module_name: str) -> list[type[LikenessError]]:
    module = importlib.import_module(module_name)
    return [obj for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, LikenessError) and obj.__module__ == module_name]


@pytest.mark.parametrize(("dotted", "expected"), sorted(TABLE.items()))
def test_status_exit_code_and_bases_are_as_pinned(dotted, expected):
    http_status, exit_code, bases = expected
    cls = _class(dotted)
    assert issubclass(cls, LikenessError)
    assert (cls.http_status, cls.exit_code) == (http_status, exit_code)
    assert all(issubclass(cls, _class(base)) for base in bases)


@pytest.mark.parametrize("module_name", MODULES)
def test_every_error_class_is_pinned(module_name):
    defined = {f"{cls.__module__}.{cls.__qualname__}" for cls in _defined_in(module_name)}
    assert defined - TABLE.keys() == set(), "a new error class: pin its status and exit code in error_codes.txt"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_error_is_pinned(package):
    module = importlib.import_module(package)
    exported = [getattr(module, name) for name in module.__all__]
    errors = {f"{obj.__module__}.{obj.__qualname__}" for obj in exported
              if inspect.isclass(obj) and issubclass(obj, LikenessError)}
    assert errors - TABLE.keys() == set()


@pytest.mark.parametrize("module_name", MODULES)
def test_no_class_restates_what_it_inherits(module_name):
    """A status or exit code is written where it changes, once: a kind or a package base owns it."""
    for cls in _defined_in(module_name):
        for attr in ("http_status", "exit_code"):
            if attr in vars(cls) and cls is not LikenessError:
                assert vars(cls)[attr] != getattr(super(cls, cls), attr), f"{cls.__qualname__}.{attr}"


def test_the_kind_wins_over_the_package_base():
    from consent.errors import ConsentError, ConsentStoreError
    from likeness.errors import InternalError, StoreUnavailableError

    err = ConsentStoreError("the consent registry is unavailable: OperationalError")
    assert isinstance(err, StoreUnavailableError) and isinstance(err, InternalError) and isinstance(err, ConsentError)
    assert (err.http_status, err.exit_code) == (503, 1)
    assert ConsentStoreError.__mro__[1] is StoreUnavailableError
