"""The package's shape, held by tests (issue 16): the domain package imports no Airflow, and no two modules
of ours import each other — directly or round a longer circle, at the top of a file or inside a function
(a deferred import is still a dependency: it only hides the circle from the interpreter)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"handover": ROOT / "include", "handover_airflow": ROOT / "plugins"}


def _modules() -> dict[str, set[str]]:
    """module → the modules of ours it imports (``from a import b`` counts ``a.b`` when that is a module)."""
    found: dict[str, tuple[Path, set[str]]] = {}
    for package, base in PACKAGES.items():
        for path in sorted((base / package).rglob("*.py")):
            name = ".".join(path.relative_to(base).with_suffix("").parts).removesuffix(".__init__")
            deps: set[str] = set()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    deps.add(node.module)
                    deps.update(f"{node.module}.{a.name}" for a in node.names)
                elif isinstance(node, ast.Import):
                    deps.update(a.name for a in node.names)
            found[name] = (path, deps)
    return {name: {d for d in deps if d in found and d != name} for name, (_, deps) in found.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _without_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's ``__init__`` re-exporting its modules is not a circle of theirs: edges into a package
    (``handover.store``) stand for the module the name comes from, so they are dropped here."""
    packages = {name for name in graph if any(other.startswith(name + ".") for other in graph)}
    return {name: {d for d in deps if d not in packages} for name, deps in graph.items()}


def test_no_two_modules_import_each_other():
    assert _circles(_without_packages(_modules())) == []


def test_the_circle_finder_finds_one():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_domain_package_imports_no_airflow():
    offenders = []
    for path in sorted((ROOT / "include" / "handover").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            if any(n == "airflow" or n.startswith(("airflow.", "handover_airflow")) for n in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
