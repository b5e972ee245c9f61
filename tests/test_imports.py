"""The package's shape (issue 19): an import graph without circles, every module importing only modules below it,
and short functions.

Imports are read from the source (module level and inside functions alike: a lazy import that runs back up
is still a circle). ``__main__.py`` files are entry points (``python -m interp.report``): nothing imports
them, so they may import from above; no other module may import one.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "interp"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported(path: Path) -> set[str]:
    """The package's modules that ``path`` imports (``from interp.x import y`` counts as interp.x, or as
    interp.x.y where that is a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    found = set()
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name.startswith("interp") and name != module_name(path):
            found.add(name)
    return found


GRAPH = {name: imported(path) for name, path in MODULES.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle (a strongly connected set of more than one module, or a module importing itself)."""
    order, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        on_stack.add(module)
        for other in graph[module]:
            if other not in order:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], order[other])
        if low[module] == order[module]:
            members = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                members.append(member)
                if member == module:
                    break
            if len(members) > 1 or module in graph[module]:
                found.append(sorted(members))

    for module in graph:
        if module not in order:
            visit(module)
    return found


def test_the_import_graph_has_no_circle():
    libraries = {name: imports for name, imports in GRAPH.items() if not name.endswith("__main__")}
    assert circles(libraries) == []


def test_no_library_imports_an_entry_point():
    for name, imports in GRAPH.items():
        assert not [other for other in imports if other.endswith("__main__") and not name.endswith("__main__")], name


def test_the_check_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"a"}}) == [["a"]] and circles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("low, high", [("interp.vocab", "interp.tasks"), ("interp.report", "interp.head_overlap"),
                                       ("interp.reuse", "interp.head_overlap"), ("interp.ablation", "interp.head_overlap"),
                                       ("interp.methods", "interp.head_overlap")])
def test_the_two_circles_issue_19_found_are_gone(low, high):
    assert high not in GRAPH[low]


def test_no_function_is_over_60_lines():
    """Short functions (issue 19): every function of the package and of analyses/ fits on a screen."""
    long = []
    for path in [*PACKAGE.rglob("*.py"), *(PACKAGE.parent / "analyses").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 60:
                long.append(f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert long == []
