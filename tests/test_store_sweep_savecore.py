"""The start-up sweep leaves FreeBSD savecore(8)'s own info files alone."""

from __future__ import annotations

from pathlib import Path

from debugnet.catalogue.files import scan
from debugnet.server.sweep import mark_interrupted
from debugnet.triage.info import DumpState
from tests.dumpdirs import write_savecore


def test_a_savecore_info_file_is_not_marked_interrupted(tmp_path: Path) -> None:
    """savecore's info ends with ``Dump Status: good``, not one of our last lines: it is
    an ended dump, not one a dead collector left; marking it would turn a good dump
    incomplete and run the handler for a dump the server never received."""
    write_savecore(tmp_path, 0)
    before = (tmp_path / "info.0").read_bytes()
    calls: list[tuple[object, ...]] = []
    assert mark_interrupted(tmp_path, lambda *a: calls.append(a)) == []
    assert (tmp_path / "info.0").read_bytes() == before and calls == []
    assert [r.state for r in scan(tmp_path)] == [DumpState.COMPLETE]
