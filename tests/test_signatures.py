"""House style (STYLE.md, issue 14): a function whose parameters share a type takes them by keyword.

``put_input(job_id, name, data)`` with two ``str`` invites ``put_input(name, job_id, data)``, which type
checks and stores the wrong file. So among a public function's positional parameters (``self`` and ``cls``
aside), only the first may share its type with another one; the rest of such a signature is keyword-only
(``put_input(job_id, *, name, data)``). Private helpers (``_name``) and functions nested in functions are
the module's own business; public functions and the methods of public classes are checked.

Exempt, each with its reason: functions whose answer does not change when the arguments swap, signatures
a framework calls positionally, and route handlers (FastAPI binds their parameters by name).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["likeness", "media", "speech", "faces", "policy", "consent", "audit", "generator", "provenance",
            "detector", "partners", "generations", "training", "gateway"]
EXEMPT = {
    # symmetric: swapping the arguments gives the same answer
    "faces/identity.py:cosine": "cosine similarity is symmetric",
    "faces/identity.py:similarity": "cosine similarity is symmetric",
    "faces/identity.py:compare_faces": "the identity score of two faces is symmetric",
    "faces/_insightface.py:similarity": "cosine similarity is symmetric",
    "faces/_dlib.py:similarity": "the identity score of two faces is symmetric",
    # a shared calling convention: metrics are passed where another metric could go (sklearn's metric(y, score))
    "detector/metrics.py:auc": "a metric: metric(labels, scores), passed to bootstrap_by_group",
    "detector/metrics.py:tpr_at_fpr": "a metric: metric(labels, scores), passed to bootstrap_by_group",
    "detector/metrics.py:brier": "a metric: metric(labels, probabilities), passed to bootstrap_by_group",
    "generator/_bases.py:smoothstep": "GLSL's smoothstep(edge0, edge1, x), read as the formula it is",
    # called positionally by a framework
    "detector/model.py:forward": "torch calls forward() with the inputs positionally (the ONNX export too)",
    "generator/learned/model.py:forward": "torch calls forward() with the inputs positionally",
    "gateway/cli.py:main": "overrides click's Command.main, which callers invoke positionally",
}
ROUTE_DECORATORS = {"get", "post", "put", "delete", "patch", "websocket", "api_route"}


def _is_route(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr in ROUTE_DECORATORS
               for d in node.decorator_list)


def _callables(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Module-level functions and the methods of module-level classes."""
    found: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            found.extend(n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.append(node)
    return found


def _offenders(path: Path) -> list[str]:
    found = []
    for node in _callables(ast.parse(path.read_text(), filename=str(path))):
        if (node.name.startswith("_") and node.name != "__init__") or _is_route(node):
            continue
        where = f"{path.relative_to(REPO_ROOT).as_posix()}:{node.name}"
        if where in EXEMPT:
            continue
        positional = [a for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
        types = [ast.unparse(a.annotation) if a.annotation is not None else None for a in positional]
        shared = [a.arg for i, a in enumerate(positional[1:], start=1)
                  if types[i] is not None and types.count(types[i]) > 1]
        if shared:
            found.append(f"{where}:{node.lineno} ({', '.join(shared)} positional)")
    return found


def test_parameters_of_one_type_are_keyword_only():
    offenders = [o for package in PACKAGES for path in sorted((REPO_ROOT / package).rglob("*.py"))
                 if "migrations" not in path.parts for o in _offenders(path)]
    assert offenders == []


def test_exemptions_name_functions_that_exist():
    for where in EXEMPT:
        file, name = where.split(":")
        tree = ast.parse((REPO_ROOT / file).read_text())
        assert any(isinstance(n, ast.FunctionDef) and n.name == name for n in ast.walk(tree)), where


def test_the_rule_sees_a_swappable_signature(tmp_path):
    (tmp_path / "m.py").write_text("def put(job_id: str, name: str, data: bytes) -> None: ...\n"
                                   "def ok(job_id: str, *, name: str) -> None: ...\n"
                                   "def _private(a: str, b: str) -> None: ...\n")
    global REPO_ROOT
    saved, REPO_ROOT = REPO_ROOT, tmp_path
    try:
        assert _offenders(tmp_path / "m.py") == ["m.py:put:1 (name positional)"]
    finally:
        REPO_ROOT = saved
