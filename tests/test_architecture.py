"""The package's shape: rooms without import circles, no private name across modules, no oversized module.

The walk parses every module of ``advdist_lab`` (no import needed) and records each ``import`` and ``from ...
import`` it holds, at module level or inside a function alike: a lazy import is still an arrow between rooms.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "advdist_lab"
MAX_LINES = 420
"""The bound on a module's length ("under about 400 lines"), counted as ``wc -l`` does."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports(known: dict[str, Path]) -> dict[str, set[tuple[str, str | None]]]:
    """For each module: the set of ``(imported module, imported name or None)`` inside the package."""
    found: dict[str, set[tuple[str, str | None]]] = {}
    for module, path in known.items():
        edges: set[tuple[str, str | None]] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                edges |= {(alias.name, None) for alias in node.names if alias.name.startswith("advdist_lab")}
            elif isinstance(node, ast.ImportFrom):
                target = _absolute(module, path, node)
                if not target.startswith("advdist_lab"):
                    continue
                for alias in node.names:
                    child = f"{target}.{alias.name}"
                    edges.add((child, None) if child in known else (target, alias.name))
        found[module] = edges
    return found


def _owner(name: str, known: dict[str, Path]) -> str:
    while name not in known and "." in name:
        name = name.rpartition(".")[0]
    return name


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {}
    for module, edges in imports(known).items():
        targets = {_owner(target, known) for target, _ in edges}
        # a package's __init__ re-exporting its own modules, or a module importing its package's __init__ for a
        # sibling, is how a package is assembled, not an arrow between rooms
        graph[module] = {t for t in targets if t != module and not module.startswith(t + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walk_finds_the_package() -> None:
    known = modules()
    assert "advdist_lab.files" in known and "advdist_lab.gumbel" in known
    assert len(known) > 30


def test_the_cycle_finder_finds_a_planted_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle() -> None:
    found = cycles(import_graph())
    assert found == [], "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_no_private_name_imported_across_modules() -> None:
    known = modules()
    offences = sorted(
        f"{module} imports {name} from {target}"
        for module, edges in imports(known).items()
        for target, name in edges
        if name is not None
        and name.startswith("_")
        and not name.startswith("__")
        or name is None
        and target.rpartition(".")[2].startswith("_")
        and not target.endswith("__init__")
    )
    assert offences == [], "\n".join(offences)


@pytest.mark.parametrize("module", sorted(modules()))
def test_module_is_under_the_bound(module: str) -> None:
    lines = modules()[module].read_text().count("\n")
    assert lines <= MAX_LINES, f"{module} has {lines} lines (bound {MAX_LINES}): split it by what it holds"


CORE = {"hparams", "concrete", "gumbel", "losses", "metrics", "probes", "environment", "files"}
"""The small core every room uses: one room of modules at the package's top level."""

LEVELS = {
    "core": 0,
    "theory": 1,
    "data": 1,
    "models": 1,
    "methods": 2,
    "runs": 3,
    "experiments": 4,
    "robust": 5,
    "viz": 6,
    "widgets": 7,
    "cli": 7,
    "course": 7,
    "site": 7,
}
"""The arrows of the README: a room imports only rooms on a lower level (and itself). ``robust`` sits above
``experiments`` because it uses its table formatting; ``widgets``, ``cli``, ``course`` and ``site`` are the top."""


def room_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "package"
    return "core" if parts[1] in CORE else parts[1]


def test_every_module_lies_in_a_known_room() -> None:
    rooms = {room_of(m) for m in modules()} - {"package"}
    assert rooms <= set(LEVELS), f"modules outside every room: {sorted(rooms - set(LEVELS))}"


def layer_offences(graph: dict[str, set[str]]) -> list[str]:
    """Every import from a room to a room on its own or a higher level."""
    return sorted(
        f"{module} ({room_of(module)}) imports {target} ({room_of(target)})"
        for module, targets in graph.items()
        for target in targets
        if room_of(module) != "package"
        and room_of(target) != room_of(module)
        and LEVELS.get(room_of(target), 99) >= LEVELS.get(room_of(module), -1)
    )


def test_the_layer_check_finds_a_planted_upward_arrow() -> None:
    graph = {
        "advdist_lab.data.digits": {"advdist_lab.runs.folder", "advdist_lab.files"},
        "advdist_lab.runs.folder": {"advdist_lab.files", "advdist_lab.runs.lock"},
        "advdist_lab.robust.data": {"advdist_lab.experiments.tables"},
    }
    assert layer_offences(graph) == ["advdist_lab.data.digits (data) imports advdist_lab.runs.folder (runs)"]


def test_arrows_point_one_way_between_rooms() -> None:
    offences = layer_offences(import_graph())
    assert offences == [], "\n".join(offences)
