"""The package's import graph: no cycle, and no core module imports a face.

Only imports that run when a module is loaded count (imports inside
functions and under ``if TYPE_CHECKING:`` do not). A cycle would make the
load order matter; a face (a module kept only for the original's names)
imported by the core would let the core depend on a compatibility layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import lago

PACKAGE_DIR = Path(lago.__file__).parent
# modules kept only so that code written for the original finds its names
FACES = {"lago.utils"}
# the command line sits on top of everything; nothing below may import it
CLI = {"lago.cmd", "lago.verbs", "lago.completion", "lago.cli_reference"}
UPPER = FACES | CLI


def _in(module: str, names: set[str]) -> bool:
    return any(module == name or module.startswith(name + ".") for name in names)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _load_time_imports(body: list[ast.stmt]) -> list[ast.stmt]:
    found: list[ast.stmt] = []
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            found += _load_time_imports(node.body) + _load_time_imports(node.orelse)
        elif isinstance(node, ast.Try):
            found += _load_time_imports(node.body)
            for handler in node.handlers:
                found += _load_time_imports(handler.body)
    return found


def _targets(
    node: ast.stmt, module: str, is_package: bool, known: set[str]
) -> set[str]:
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            anchor = module.split(".")
            drop = node.level - 1 if is_package else node.level
            anchor = anchor[: len(anchor) - drop]
            base = ".".join([*anchor, base] if base else anchor)
        names = [base] + [f"{base}.{alias.name}" for alias in node.names]
    found = set()
    for name in names:
        # "import a.b.c" loads a, a.b and a.b.c
        parts = name.split(".")
        for end in range(1, len(parts) + 1):
            candidate = ".".join(parts[:end])
            if candidate in known:
                found.add(candidate)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {
        _module_name(path): path
        for path in PACKAGE_DIR.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    known = set(files)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        edges: set[str] = set()
        for node in _load_time_imports(tree.body):
            edges |= _targets(node, module, path.name == "__init__.py", known)
        # a package's submodule always loads its parent package first
        edges.discard(module)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_graph_sees_imports() -> None:
    # guards the test itself: a parser that finds nothing would pass vacuously
    graph = import_graph()
    assert "lago.process" in graph["lago.utils"]
    assert "lago.prefix" in graph["lago.workdir"]


def test_find_cycle_reports_a_cycle() -> None:
    cycle = find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()})
    assert cycle == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle() -> None:
    assert find_cycle(import_graph()) is None


def test_core_imports_no_face_and_nothing_upward() -> None:
    # imports inside functions count here too: a face is never the core's
    # toolbox, and the model and the SDK never reach up into the CLI
    known = set(import_graph())
    offenders = []
    for path in PACKAGE_DIR.rglob("*.py"):
        module = _module_name(path)
        if _in(module, UPPER):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets = _targets(node, module, path.name == "__init__.py", known)
                upward = sorted(t for t in targets if _in(t, UPPER))
                if upward:
                    offenders.append(f"{module}:{node.lineno} imports {upward}")
    assert offenders == []
