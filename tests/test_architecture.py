"""The package keeps its plan: small modules, no import cycles, no private names imported
across modules."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400


def modules() -> dict[str, Path]:
    out = {}
    for p in (ROOT / "alignda").rglob("*.py"):
        if "_shipped" in p.parts:
            continue
        name = ".".join(p.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = p
    return out


def imports(path: Path, top_level_only: bool) -> list[tuple[str, list[str]]]:
    """(module, names) of every ``from alignda... import`` (module level only if asked;
    otherwise also those inside functions and ``if TYPE_CHECKING:`` blocks)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    return [
        (n.module, [a.name for a in n.names])
        for n in nodes
        if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("alignda")
    ]


def test_no_module_is_too_long() -> None:
    sizes = {m: len(p.read_text().splitlines()) for m, p in modules().items()}
    long = {m: n for m, n in sizes.items() if n > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_private_names_cross_modules() -> None:
    bad = [
        (m, src, name)
        for m, p in modules().items()
        for src, names in imports(p, top_level_only=False)
        for name in names
        if name.startswith("_") and name != "__version__"
    ]
    assert not bad, f"private names imported across modules: {bad}"


def test_no_import_cycles() -> None:
    mods = modules()
    graph: dict[str, set[str]] = {}
    for m, p in mods.items():
        deps = set()
        for src, names in imports(p, top_level_only=False):  # function-level ones count too
            for name in names:  # `from alignda.obs import networks` imports a module
                deps.add(f"{src}.{name}" if f"{src}.{name}" in mods else src)
        graph[m] = {d for d in deps if d in mods and d != m}
    # Importing a package runs its __init__: a module inside depends on its package too,
    # so a package __init__ that imports its modules is fine, but nothing may loop back.
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(d) :] + [d]))
            if d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_every_public_name_of_a_package_resolves() -> None:
    """Each package's ``__all__`` names exist (lazy ones included): a name whose module moved
    must move in its package's list too."""
    packages = [m for m, p in modules().items() if p.name == "__init__.py" and m != "alignda"]
    missing = []
    for name in packages:
        package = importlib.import_module(name)
        names = getattr(package, "__all__", [])
        missing += [f"{name}.{n}" for n in names if not hasattr(package, n)]
    assert packages and not missing, f"public names that do not resolve: {missing}"
