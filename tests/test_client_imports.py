"""The client package's import graph: no cycles, and reading runs never needs ``BatonClient``.

The graph is read from the source with ``ast``, so it also sees the imports that never run at
import time: inside functions (lazy imports) and under ``if TYPE_CHECKING:``, which is exactly
where a cycle hides from Python but not from a reader of the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import baton.client

PACKAGE = "baton.client"
ROOT = Path(baton.client.__file__).parent

Graph = dict[str, set[str]]


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([PACKAGE, *parts])] = path
    return found


def _named(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The dotted names an import asks for: ``a.b`` for ``import a.b``, ``pkg.name`` for
    ``from pkg import name`` (relative imports resolved)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: resolve against this module's package
        anchor = module if is_package else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            anchor = anchor.rpartition(".")[0]
        base = f"{anchor}.{base}" if base else anchor
    return [f"{base}.{alias.name}" for alias in node.names]


def _parents(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def _edges(importer: str, name: str, modules: set[str]) -> set[str]:
    """What importing ``name`` from ``importer`` executes, within the package.

    ``from pkg import mod`` needs the submodule ``mod``; ``from mod import obj`` needs ``mod``
    to have run, even when ``mod`` is the importer's own package. The packages enclosing that
    module run first too, a real dependency unless they enclose the importer as well: those
    are already running (every module needs its parents, and counting that would make any
    package that re-exports its modules look cyclic)."""
    target = name
    while target and target not in modules:
        target = target.rpartition(".")[0]
    if not target or target == importer:
        return set()
    enclosing = {p for p in _parents(target)
                 if p in modules and p != importer and p not in _parents(importer)}
    return {target, *enclosing}


def import_graph() -> Graph:
    """Module -> the baton.client modules it imports, lazy and TYPE_CHECKING imports included."""
    modules = _modules()
    graph: Graph = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for named in _named(node, name, path.name == "__init__.py"):
                    graph[name] |= _edges(name, named, set(modules))
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """One import cycle as a path ``[a, b, …, a]``, or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        if name in path:
            return [*path[path.index(name):], name]
        if name in done:
            return None
        path.append(name)
        for target in sorted(graph.get(name, ())):
            cycle = visit(target)
            if cycle:
                return cycle
        path.pop()
        done.add(name)
        return None

    for start in sorted(graph):
        cycle = visit(start)
        if cycle:
            return cycle
    return None


def reachable(graph: Graph, start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_the_graph_sees_the_whole_package() -> None:
    graph = import_graph()
    assert {"baton.client.api", "baton.client.reader", "baton.client.cli",
            "baton.client.cli.__main__", "baton.client.cli.run"} <= graph.keys()
    assert "baton.client.reader" in graph["baton.client.api"]
    assert "baton.client.cli.run" in graph["baton.client.cli"]


def test_no_import_cycle_in_the_client_package() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_reading_runs_does_not_depend_on_baton_client() -> None:
    graph = import_graph()
    below = reachable(graph, "baton.client.reader")
    # The package itself re-exports BatonClient, so importing it would bring the client back.
    assert not below & {"baton.client.api", "baton.client"}, sorted(below)
    assert not any(name.startswith("baton.client.cli") for name in below), sorted(below)


def _type_checking_imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found += [ast.unparse(inner) for stmt in node.body for inner in ast.walk(stmt)
                      if isinstance(inner, ast.Import | ast.ImportFrom)]
    return found


def test_no_client_module_is_imported_only_for_type_checking() -> None:
    # An import needed only by annotations hides a cycle from Python: a helper that takes the
    # client as a parameter while the client calls the helper.
    hidden = {str(path.relative_to(ROOT)): imports for path in _modules().values()
              if (imports := [i for i in _type_checking_imports(path) if PACKAGE in i])}
    assert hidden == {}


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
