"""The dump directory as a DumpStore: one write loop, names, durability, free space."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from debugnet.storage import directory
from debugnet.storage.directory import DirectoryStore, DumpFiles, DumpPaths
from debugnet.storage.interface import (
    DumpLimitReached,
    DumpRequest,
    DumpSink,
    DumpStore,
    StorageError,
)

REQUEST = DumpRequest("192.0.2.9", "h", None)


def test_directory_backend_satisfies_the_interface(tmp_path: Path) -> None:
    store: DumpStore = DirectoryStore(tmp_path)
    sink: DumpSink = store.create(REQUEST)
    assert sink.index == 0 and sink.info_path == tmp_path / "info.h.0"
    assert sink.core_path == tmp_path / "vmcore.h.0"
    sink.close()
    sink.close()  # idempotent


def test_indexes_are_taken_in_turn_up_to_the_limit(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path, max_dumps=2)
    first, second = store.create(REQUEST), store.create(REQUEST)
    assert (first.index, second.index) == (0, 1)
    with pytest.raises(DumpLimitReached):
        store.create(REQUEST)
    first.close()
    second.close()


def test_an_unusable_herald_directory_falls_back_to_the_default(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "info.h.0").write_text("taken")
    store = DirectoryStore(tmp_path, max_dumps=1)
    sink = store.create(DumpRequest("192.0.2.9", "h", "full"))
    assert sink.info_path == tmp_path / "info.h.0"
    sink.close()


def test_free_bytes_is_what_statvfs_says(tmp_path: Path) -> None:
    st = os.statvfs(tmp_path)
    free = DirectoryStore(tmp_path).free_bytes()
    assert abs(free - st.f_bavail * st.f_frsize) <= 64 * 1024 * 1024  # other writers meanwhile
    assert free > 0


def test_a_vectored_run_is_one_pwritev_and_short_writes_continue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = os.pwritev

    def short(fd: int, buffers: list[memoryview], offset: int) -> int:
        calls.append(offset)
        return real(fd, buffers, offset) if len(calls) > 1 else real(fd, [buffers[0][:5]], offset)

    monkeypatch.setattr(directory.os, "pwritev", short)
    files = DumpFiles(DumpPaths(tmp_path, "h", 0), 4096)
    pieces = [bytes([i]) * 1000 for i in range(8)]
    files.write_at(100, pieces, 8000)
    files.sync()
    files.close()
    assert calls == [100, 105]
    assert (tmp_path / "vmcore.h.0").read_bytes() == bytes(100) + b"".join(pieces)


def test_small_runs_are_gathered(tmp_path: Path) -> None:
    files = DumpFiles(DumpPaths(tmp_path, "h", 0), 4096)
    files.write_at(0, [b"ab", memoryview(b"cd")], 4)
    assert (tmp_path / "vmcore.h.0").read_bytes() == b""  # still in the buffer
    files.sync()
    files.close()
    assert (tmp_path / "vmcore.h.0").read_bytes() == b"abcd"


def test_vectored_write_error_reports_the_offset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(fd: int, buffers: list[memoryview], offset: int) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(directory.os, "pwritev", failing)
    files = DumpFiles(DumpPaths(tmp_path, "h", 0), 4096)
    with pytest.raises(StorageError) as err:
        files.write_at(0x4000, [b"x" * 2000, b"y" * 2000], 4000)
    assert str(err.value) == "write error @ offset 00004000: No space left on device"
    files.close()


def test_key_is_read_only_and_written_at_offsets(tmp_path: Path) -> None:
    files = DumpFiles(DumpPaths(tmp_path, "h", 0), 4096)
    files.write_key(3, b"def")
    files.write_key(0, b"abc")
    files.sync()
    files.close()
    key = tmp_path / "key.h.0"
    assert key.read_bytes() == b"abcdef"
    assert stat.S_IMODE(key.stat().st_mode) == 0o400


def test_offsets_past_2_63_are_a_storage_error(tmp_path: Path) -> None:
    files = DumpFiles(DumpPaths(tmp_path, "h", 0), 4096)
    with pytest.raises(StorageError) as err:
        files.write_at(1 << 63, [b"x" * 3000, b"y" * 3000], 6000)
    assert err.value.offset == 1 << 63
    files.close()


def test_format_truncate_and_publish(tmp_path: Path) -> None:
    files = DirectoryStore(tmp_path).create(REQUEST)
    files.write_at(0, [b"z" * 10], 10)
    files.set_format(encrypted=True, compression="zstd")
    assert files.core_path == tmp_path / "vmcore_encrypted.h.0.zst"
    files.sync(truncate_to=4)
    files.info(b"Dump complete\n")
    files.publish()
    files.close()
    assert files.core_path.read_bytes() == b"zzzz"
    assert (tmp_path / "vmcore.h.last").readlink() == Path("vmcore_encrypted.h.0.zst")
    assert (tmp_path / "info.h.last").read_text() == "Dump complete\n"
