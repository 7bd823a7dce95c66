"""DESIGN.md's layer rule, checked on the source: each package imports only those above it,
and the protocol cores import no sockets, clocks, threads, processes, files or global
randomness. The one place this project's import purity is tested."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "debugnet"
ORDER = [
    "wire", "sim", "transport", "ifnet", "devices", "inet", "netdump", "netgdb", "triage",
    "catalogue", "storage", "web", "server", "cli",
]  # fmt: skip
ALWAYS = {"errors", "__init__"}
PURE = {"wire", "transport", "sim", "ifnet", "triage"}
BANNED = {
    "socket",
    "asyncio",
    "threading",
    "time",
    "select",
    "selectors",
    "subprocess",
    "os",
    "fcntl",
    "random",
}
"""What a core may not import; only the simulator owns seeded random.Random instances."""


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", ORDER)
def test_layer_imports_only_layers_above(package: str) -> None:
    allowed = set(ORDER[: ORDER.index(package) + 1]) | ALWAYS
    for path in (SRC / package).rglob("*.py"):
        for name in imports(path):
            if name.startswith("debugnet."):
                layer = name.split(".")[1]
                assert layer in allowed, f"{path.relative_to(SRC)} imports {name}"


@pytest.mark.parametrize("package", sorted(PURE))
def test_cores_do_no_io(package: str) -> None:
    for path in (SRC / package).rglob("*.py"):
        names = imports(path)
        banned = BANNED - {"random"} if package == "sim" else BANNED
        bad = {n for n in names if n.split(".")[0] in banned}
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def _module_imports() -> dict[str, set[str]]:
    """Every debugnet module and the debugnet modules it imports, wherever the
    import stands (under TYPE_CHECKING or in a function too); ``from pkg import
    submodule`` counts as importing the submodule, not the package."""
    modules: dict[str, Path] = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = {f"{node.module}.{alias.name}" for alias in node.names}
                found.update(subs & modules.keys() or {node.module})
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ifnet.interface", "ifnet.ioctl"),
        ("ifnet.clone", "ifnet.table"),
        ("server.worker", "server.listener"),
        ("server.recorder", "server.worker"),
        ("storage.directory", "server.recorder"),
    ],
)
def test_no_import_cycle_between(a: str, b: str) -> None:
    graph = _module_imports()
    a, b = f"debugnet.{a}", f"debugnet.{b}"
    assert not (_reaches(graph, a, b) and _reaches(graph, b, a)), f"{a} and {b} import each other"
