"""Imports run one way: down the layers of DESIGN.md, never up, never in a circle.

The layers are written once, in LAYERS, from the ground up. A module belongs to the
layer of the longest prefix that matches its dotted name. A module may import its own
layer or any layer below it; an import of a higher layer fails the test, named by file
and line. Imports between modules of one layer must not form a circle.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("vault_schema", "overlay", "indexer", "distill", "server")

# From the ground up. Each entry: (layer name, module-path prefixes).
LAYERS: list[tuple[str, list[str]]] = [
    ("vault_schema", ["vault_schema"]),
    (
        "Base",
        [
            "overlay.config",
            "overlay.config_loading",
            "overlay.config_memory",
            "overlay.errors",
            "overlay.sqlite",
            "overlay.progress",
            "overlay.data_files",
            "overlay.__init__",
        ],
    ),
    ("indexer", ["indexer"]),
    ("Core", ["overlay.core"]),
    ("distill", ["distill"]),
    ("server", ["server"]),
    ("Face", ["overlay.cli", "overlay.daemon"]),
]


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    path: Path
    line: int

    def describe(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} imports {self.imported}"


def module_name(path: Path) -> str:
    """`overlay/core/llms/__init__.py` -> `overlay.core.llms.__init__`: a package keeps its own name."""
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def layer_of(name: str) -> int | None:
    """The layer of the longest prefix that matches `name`, or None."""
    matches = [
        (len(prefix), index)
        for index, (_, prefixes) in enumerate(LAYERS)
        for prefix in prefixes
        if name == prefix or name.startswith(prefix + ".")
    ]
    return max(matches)[1] if matches else None


def known_modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            modules[module_name(path)] = path
    return modules


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module of ours that `name` (a module or a name inside one) loads."""
    while name:
        if name in modules:
            return name
        if f"{name}.__init__" in modules:
            return f"{name}.__init__"
        name = name.rpartition(".")[0]
    return None


def imports_of(path: Path, modules: dict[str, Path]) -> list[Import]:
    """Every import statement of ours in `path`, at any depth (in functions, under
    TYPE_CHECKING), once per module it loads."""
    importer = module_name(path)
    package = importer.rpartition(".")[0]  # what a relative import starts from
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            resolved = resolve(target, modules)
            if resolved is not None and resolved != importer:
                found.append(Import(importer, resolved, path, node.lineno))
    return list(dict.fromkeys(found))


def all_imports() -> list[Import]:
    modules = known_modules()
    return [found for path in modules.values() for found in imports_of(path, modules)]


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(name for name in known_modules() if layer_of(name) is None)
    assert not unplaced, f"modules in no layer of LAYERS: {unplaced}"


def test_no_import_runs_up_the_layers() -> None:
    upward = []
    for found in all_imports():
        low, high = layer_of(found.importer), layer_of(found.imported)
        if low is not None and high is not None and high > low:
            upward.append(f"{found.describe()} ({LAYERS[low][0]} -> {LAYERS[high][0]})")
    assert not upward, "imports that run up the layers:\n" + "\n".join(upward)


def is_route_module(path: Path) -> bool:
    """A server module that declares routes (`router = APIRouter(...)`)."""
    return path.parts[-2] == "server" and "router = APIRouter(" in path.read_text("utf-8")


def test_no_route_module_imports_another() -> None:
    modules = known_modules()
    routes = {name for name, path in modules.items() if is_route_module(path)}
    crossing = [
        found.describe()
        for found in all_imports()
        if found.importer in routes and found.imported in routes
    ]
    assert routes, "no route module found: is_route_module no longer matches the server"
    assert not crossing, "route modules that import another route module:\n" + "\n".join(crossing)


def test_no_import_circle() -> None:
    graph: dict[str, list[Import]] = {}
    for found in all_imports():
        graph.setdefault(found.importer, []).append(found)
    circles = _cycles(graph)
    assert not circles, "import circles:\n" + "\n".join(
        " -> ".join(step.describe() for step in cycle) for cycle in circles
    )


def _cycles(graph: dict[str, list[Import]]) -> list[list[Import]]:
    """One circle per strongly connected group, found by depth-first search."""
    state: dict[str, int] = {}
    stack: list[Import] = []
    cycles: list[list[Import]] = []
    seen_members: set[str] = set()

    def visit(node: str) -> None:
        state[node] = 1
        for edge in graph.get(node, []):
            target = edge.imported
            if state.get(target) == 1:
                start = next(
                    (i for i, step in enumerate(stack) if step.importer == target),
                    len(stack),
                )
                cycle = [*stack[start:], edge]
                members = {step.importer for step in cycle}
                if not members & seen_members:
                    seen_members.update(members)
                    cycles.append(cycle)
            elif target not in state:
                stack.append(edge)
                visit(target)
                stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_no_test_module_imports_a_conftest() -> None:
    """tests/ and tests/integration/ each have a conftest.py; whichever pytest loads
    first answers `import conftest`, so such an import breaks a whole-suite run."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if (isinstance(node, ast.ImportFrom) and node.module == "conftest")
        or (isinstance(node, ast.Import) and any(a.name == "conftest" for a in node.names))
    ]
    assert offenders == []
