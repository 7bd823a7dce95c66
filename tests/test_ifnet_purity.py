"""ifnet is a core: no I/O, no clocks, no threads, no global randomness."""

import ast
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import debugnet.ifnet
from debugnet.ifnet import IF_INDEX_MAX, Ifnet, IfOps, IfTable

FORBIDDEN = {"socket", "asyncio", "threading", "time", "random", "os", "select", "fcntl"}


def test_ifnet_imports_nothing_that_does_io() -> None:
    package = Path(debugnet.ifnet.__file__).parent
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [(node.module or "").split(".")[0]]
            else:
                continue
            assert not FORBIDDEN & set(names), f"{path.name} imports {names}"
            assert "debugnet.devices" not in ast.unparse(node), path.name


_OPS = IfOps(output=lambda ifp, f: None)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 30)), max_size=80))
def test_index_allocation_invariants(script: list[tuple[bool, int]]) -> None:
    table = IfTable()
    live: list[Ifnet] = []
    generations: set[int] = set()
    serial = 0
    for attach, pick in script:
        if attach or not live:
            ifp = table.attach(Ifnet(f"x{serial}", _OPS))
            serial += 1
            assert 1 <= ifp.index <= IF_INDEX_MAX
            assert ifp.index_gen not in generations
            generations.add(ifp.index_gen)
            live.append(ifp)
        else:
            gone = live.pop(pick % len(live))
            ref = table.ref(gone)
            table.detach(gone)
            assert table.resolve(ref) is None
        indexes = [i.index for i in live]
        assert len(set(indexes)) == len(indexes)
        assert list(table) == live
        assert all(table.byindex(i.index) is i for i in live)
