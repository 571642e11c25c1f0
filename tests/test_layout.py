"""The package's layers: no import cycle (module-level or inside functions), no private name imported from
another module, and each layer importing only what sits below it: the base modules at the package's top level
(`errors`, `paths`, `package_data`), then `ordinal`, `study`, `compendium`, with no exception."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "upgrading"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, list[tuple[str, list[str]]]]:
    """module -> [(imported module, names imported from it)], relative imports resolved, all nesting levels."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    found = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        edges = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    target = f"{base}.{node.module}" if node.module else base
                else:
                    target = node.module or ""
                if not target.startswith("upgrading"):
                    continue
                names = [a.name for a in node.names]
                submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
                edges += [(s, []) for s in submodules]
                if len(submodules) < len(names):
                    edges.append((target, [n for n in names if f"{target}.{n}" not in modules]))
            elif isinstance(node, ast.Import):
                edges += [(a.name, []) for a in node.names if a.name.startswith("upgrading")]
        found[name] = edges
    return found


def test_no_import_cycle():
    graph = {m: {t for t, _ in edges if t != m} for m, edges in _imports().items()}
    # a package's __init__ re-exporting its own submodules is not a cycle of dependencies
    graph = {m: {t for t in targets if not t.startswith(m + ".")} for m, targets in graph.items()}
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles


def test_no_private_name_is_imported_from_another_module():
    private = [(m, t, n) for m, edges in _imports().items() for t, names in edges for n in names if n.startswith("_")]
    assert not private, private


def test_layers_import_downwards_only():
    imports = _imports()
    for module, edges in imports.items():
        targets = {t for t, _ in edges}
        if module.startswith("upgrading.ordinal"):
            assert not {t for t in targets if t.startswith(("upgrading.study", "upgrading.compendium"))}, module
        if module.startswith("upgrading.study"):  # the study knows where the compendium keeps data, nothing more
            upward = {t for t in targets if t.startswith("upgrading.compendium")}
            assert upward <= {"upgrading.paths"}, (module, upward)
    assert any(t.startswith("upgrading.ordinal") for t, _ in imports["upgrading.study.models"])


def _definitions():
    """(module path, function name, lines) of every function and method in src/, and (module path, lines)."""
    functions, modules = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        modules.append((path.relative_to(PACKAGE.parent).as_posix(), len(text.splitlines())))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions.append((modules[-1][0], node.name, node.end_lineno - node.lineno + 1))
    return functions, modules


def test_functions_and_modules_stay_short():
    """No function over 80 lines (it does more than one job), no module over 500 lines (split it by job)."""
    functions, modules = _definitions()
    assert not [f for f in functions if f[2] > 80], [f for f in functions if f[2] > 80]
    assert not [m for m in modules if m[1] > 500], [m for m in modules if m[1] > 500]
    assert len(functions) > 300  # the walk found the package
