"""The package layout of DESIGN.md: one concern per package, imports pointing one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
OURS = {"likeness", "media", "faces", "policy", "consent", "audit", "generator", "provenance", "detector", "gateway"}
# What each package may import besides `likeness` (the kernel: version and base error).
ALLOWED = {
    "likeness": set(),
    "media": set(),
    "faces": {"media"},
    "policy": set(),
    "consent": {"faces", "media", "audit", "detector"},
    "audit": set(),
    "generator": {"media", "faces"},
    "provenance": {"media"},
    "detector": {"media", "faces", "provenance"},
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


@pytest.mark.parametrize("package", ["media", "provenance", "detector"])
def test_public_surface_is_declared(package):
    module = __import__(package)
    assert sorted(module.__all__) == sorted(set(module.__all__)), "duplicates in __all__"
    for name in module.__all__:
        assert hasattr(module, name), f"{package}.__all__ names {name}, which does not exist"
