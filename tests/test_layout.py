"""The package layout of DESIGN.md: one concern per package, imports pointing one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
OURS = {"likeness", "media", "speech", "faces", "policy", "consent", "audit", "generator", "provenance", "detector",
        "partners", "generations", "training", "gateway"}
# What each package may import besides `likeness` (the kernel: version and base error): DESIGN.md's table.
# Nothing imports `gateway` or `training` (the `likeness detector` commands run training); `policy` and
# `audit` import nothing of ours.
ALLOWED = {
    "likeness": set(),
    "media": set(),
    "speech": {"media"},
    "faces": {"media"},
    "policy": set(),
    "audit": set(),
    "consent": {"faces", "media", "speech", "audit", "detector"},
    "generator": {"media", "faces", "speech"},
    "provenance": {"media"},
    "detector": {"media", "faces", "provenance"},
    "partners": {"audit"},
    "generations": OURS - {"generations", "training", "gateway"},
    "training": OURS - {"training", "gateway"},
    "gateway": OURS - {"gateway"},
}


def _our_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(OURS))
def test_imports_point_one_way(package):
    assert (REPO_ROOT / package / "__init__.py").exists()
    bad = {}
    for path in (REPO_ROOT / package).rglob("*.py"):
        extra = _our_imports(path) - ALLOWED[package] - {package, "likeness"}
        if extra:
            bad[path.relative_to(REPO_ROOT).as_posix()] = sorted(extra)
    assert bad == {}


def test_nothing_imports_gateway_or_training_but_the_cli():
    importers = {package for package, allowed in ALLOWED.items() if {"gateway", "training"} & allowed}
    assert importers == {"gateway"}


@pytest.mark.parametrize("package", ["media", "speech", "consent", "audit", "provenance", "detector", "partners",
                                     "generations"])
def test_public_surface_is_declared(package):
    module = __import__(package)
    assert sorted(module.__all__) == sorted(set(module.__all__)), "duplicates in __all__"
    for name in module.__all__:
        assert hasattr(module, name), f"{package}.__all__ names {name}, which does not exist"


def test_test_modules_have_unique_names():
    """pytest imports test modules by their basename (no packages under tests/): two alike stop the suite."""
    names = [p.name for p in (REPO_ROOT / "tests").rglob("*.py") if p.name != "conftest.py"]
    assert sorted({n for n in names if names.count(n) > 1}) == []
