"""The packages depend one way: service → matcher → graph, models; below the HTTP layer nothing reaches up into it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


def _modules(package: str):
    return sorted((ROOT / package).rglob("*.py"))


def test_the_decision_core_and_the_models_never_import_the_service():
    for package in ("matcher", "graph", "models"):
        for path in _modules(package):
            bad = sorted(m for m in _imports(path) if m == "service" or m.startswith("service."))
            assert not bad, (path.relative_to(ROOT), bad)


def test_nothing_below_the_http_layer_reaches_up_into_it():
    top = {"http", "cli", "app.py", "__main__.py"}  # the layers above (and the entry points)
    for path in _modules("service"):
        part = path.relative_to(ROOT / "service").parts[0]
        if part in top:
            continue
        bad = sorted(m for m in _imports(path) if m.startswith("service.http") or m == "service.app")
        assert not bad, (path.relative_to(ROOT), bad)


def test_graph_never_imports_the_decision_core():
    for path in _modules("graph"):
        assert not any(m == "matcher" or m.startswith("matcher.") for m in _imports(path)), path
