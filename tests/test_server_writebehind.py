"""Write-behind: data becomes durable while it arrives; the receive path never waits on it."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from debugnet.storage import directory
from debugnet.storage.directory import DumpFiles, DumpPaths
from debugnet.storage.writebehind import WriteBehind, default_syncer


def test_written_ranges_are_handed_on_and_the_file_stays_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directory, "CHUNK", 64 * 1024)
    calls: list[tuple[int, int]] = []
    wb = WriteBehind(syncer=lambda fd, off, n: calls.append((off, n)))
    files = DumpFiles(DumpPaths(tmp_path, "h", 0), 4096, write_behind=wb)
    blob = os.urandom(1 << 20)
    for off in range(0, len(blob), 32768):
        files.write_at(off, [blob[off : off + 16384], blob[off + 16384 : off + 32768]], 32768)
    wb.drain()
    files.sync()
    files.close()
    assert (tmp_path / "vmcore.h.0").read_bytes() == blob
    assert calls == [(off, 65536) for off in range(0, 1 << 20, 65536)]
    assert wb.synced == 1 << 20


def test_a_stuck_disk_never_blocks_the_receive_path(tmp_path: Path) -> None:
    stuck = threading.Event()
    wb = WriteBehind(syncer=lambda fd, off, n: stuck.wait(20), depth=2)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o600)
    for _ in range(10):
        wb.submit(fd, 0, 1)  # returns at once even though nothing completes
    assert wb.dropped >= 7
    os.close(fd)  # the queued requests hold their own descriptors
    stuck.set()
    wb.drain()


def test_the_platform_syncer_syncs_a_range(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o600)
    os.pwrite(fd, b"x" * 100_000, 0)
    default_syncer()(fd, 0, 100_000)  # raises on failure
    os.close(fd)
