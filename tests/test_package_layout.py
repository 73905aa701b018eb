"""The package's shape (issue 15): one package per method, no import cycles."""

import ast
from pathlib import Path

import medvit

PACKAGE = Path(medvit.__file__).parent
METHODS = ("brats", "pvbm", "thorax", "uni4eye", "cmrxrecon")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(include_function_imports: bool = True) -> dict[str, set[str]]:
    """module -> the medvit modules it imports (at module level, and inside functions when asked)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        nodes = ast.walk(tree) if include_function_imports else tree.body
        targets = set()
        for node in nodes:
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.update(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                               for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name and t.startswith("medvit")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_each_method_is_one_package():
    for method in METHODS:
        assert (PACKAGE / method / "__init__.py").is_file(), method
    for gone in ("segmentation", "classification", "ophthalmic", "biomarkers", "transforms"):
        assert not (PACKAGE / gone).exists(), f"medvit/{gone} should have moved into its method's package"


def test_no_import_cycle_even_through_imports_inside_functions():
    """A cycle hidden by importing inside a function is still a cycle (issue 15 found one)."""
    assert find_cycle(import_graph()) is None


def test_shared_packages_do_not_import_method_packages():
    shared = ("medvit.io", "medvit.batch", "medvit.nets", "medvit.recon", "medvit.data")
    graph = import_graph()
    wrong = {m: sorted(t for t in targets if t.split(".")[1:2] and t.split(".")[1] in METHODS)
             for m, targets in graph.items() if m.startswith(shared)}
    assert {m: t for m, t in wrong.items() if t} == {}
