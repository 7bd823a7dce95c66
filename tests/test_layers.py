"""DESIGN.md's layer rule, checked on the source: each package imports only those above it,
and the protocol cores import no sockets, clocks, threads or global randomness."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "debugnet"
ORDER = [
    "wire",
    "sim",
    "transport",
    "ifnet",
    "devices",
    "inet",
    "netdump",
    "triage",
    "catalogue",
    "server",
    "cli",
]
ALWAYS = {"errors", "__init__"}
PURE = {"wire", "transport", "sim", "ifnet", "triage"}
IO_MODULES = {"socket", "asyncio", "threading", "time", "select", "selectors", "subprocess"}


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
        bad = {n for n in names if n.split(".")[0] in IO_MODULES}
        if package != "sim":  # the simulator owns seeded random.Random instances
            bad |= {n for n in names if n == "random"}
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"
