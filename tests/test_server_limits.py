"""Size limits: sizes on the command line, the disk floor, the dump's length, fragmentation."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from debugnet.errors import InvalidArgument
from debugnet.server.admission import Refusal
from debugnet.server.endings import Ending
from debugnet.server.recorder import DumpRecorder
from debugnet.storage.directory import DirectoryStore
from debugnet.storage.interface import BelowFloor
from debugnet.storage.limits import DumpLimits, Floor, parse_minfree_file, parse_size
from debugnet.transport.server_session import SessionState
from debugnet.wire.message import MsgType
from tests.dumpclient import ClientTimeout, DumpClient
from tests.memstore import MemoryStore
from tests.netutil import free_loopback
from tests.serverutil import kdh
from tests.test_server_recorder import REQUEST, Shell

IS_ROOT = os.geteuid() == 0
root_only = pytest.mark.skipif(not IS_ROOT, reason="mounting a small tmpfs needs root")


def test_sizes_are_bytes_or_powers_of_1024() -> None:
    assert parse_size("4096") == 4096
    assert parse_size("64K") == 64 << 10
    assert parse_size("2m") == 2 << 20
    assert parse_size("3G") == 3 << 30
    assert parse_size("1T") == 1 << 40
    assert parse_size("5GiB") == 5 << 30
    for bad in ["", "x", "1.5G", "-1", "10P"]:
        with pytest.raises(InvalidArgument):
            parse_size(bad)


def test_the_floor_takes_a_size_a_percentage_and_savecores_file() -> None:
    assert Floor.parse("5%").bytes_of(1000) == 50
    assert Floor.parse("1M").bytes_of(10 << 20) == 1 << 20
    assert Floor.parse("1M").bytes_of(10 << 20, minfree_file_kb=2048) == 2 << 20  # the larger
    assert parse_minfree_file("2048\n") == 2048
    assert parse_minfree_file("junk") is None
    with pytest.raises(InvalidArgument):
        Floor.parse("150%")


def _shell(store: object, limits: DumpLimits | None = None) -> Shell:
    shell = Shell(store)  # type: ignore[arg-type]
    shell.recorder = DumpRecorder(shell.session, store, REQUEST, limits)  # type: ignore[arg-type]
    return shell


def test_data_past_the_kdh_length_and_one_block_ends_the_dump() -> None:
    store = MemoryStore()
    shell = _shell(store)
    shell.send(MsgType.KDH, kdh(1000))  # blocksize 512: data may end at 1512
    shell.send(MsgType.DATA, b"a" * 512, 1000)
    assert shell.outcomes == []
    shell.send(MsgType.DATA, b"b", 1512)
    assert shell.outcomes == [Ending.LIMIT]
    assert shell.session.state is SessionState.FAILED
    assert store.sinks[0].info_text.endswith(
        b"Dump incomplete: data past the dump length (1000 bytes) at offset 1513\n"
    )
    assert Ending.LIMIT.handler == "error"


def test_max_dump_size() -> None:
    store = MemoryStore()
    shell = _shell(store, DumpLimits(max_dump_size=4096))
    shell.send(MsgType.DATA, b"a" * 4096, 0)
    shell.send(MsgType.DATA, b"a", 4096)
    assert shell.outcomes == [Ending.LIMIT]
    assert store.sinks[0].info_text.endswith(
        b"Dump incomplete: larger than the size limit (4096 bytes)\n"
    )


def test_too_many_ranges_is_too_fragmented() -> None:
    store = MemoryStore()
    shell = _shell(store, DumpLimits(max_ranges=1000, slack=1 << 40))
    for i in range(1100):
        shell.send(MsgType.DATA, b"x", i * 2)
    assert shell.outcomes == [Ending.LIMIT]
    assert store.sinks[0].info_text.endswith(b"Dump incomplete: too fragmented\n")


def test_scattered_bytes_cannot_allocate_much_disk(tmp_path: Path) -> None:
    """4 MiB of one-byte writes once became 313 MiB on disk; now 2 x received + 1 MiB at most."""
    store = DirectoryStore(tmp_path)
    shell = _shell(store)
    for i in range(5000):
        shell.send(MsgType.DATA, b"x", i * 65536)
        if shell.outcomes:
            break
    assert shell.outcomes == [Ending.LIMIT]
    assert (
        (tmp_path / "info.crashy.example.0")
        .read_text()
        .endswith("Dump incomplete: too fragmented\n")
    )
    assert os.stat(tmp_path / "vmcore.crashy.example.0").st_blocks * 512 <= 8 << 20


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@root_only
def test_below_the_floor_a_herald_is_refused(small_fs: Path, run_server) -> None:
    (small_fs / "filler").write_bytes(b"f" * (3 << 20))  # 1 MiB free, below a 2 MiB floor
    srv = run_server(small_fs, min_free=Floor.parse("50%"))
    ip = free_loopback((20024,))
    with DumpClient(ip, srv.ip, retries=3) as c, pytest.raises(ClientTimeout):
        c.herald()
    assert srv.server.counters[Refusal.DISK_FLOOR] >= 1
    assert not [p for p in small_fs.iterdir() if p.name.startswith(("vmcore", "info", "bounds"))]
    (small_fs / "filler").unlink()
    with DumpClient(ip, srv.ip) as c:  # above the floor again
        c.herald()
        c.dump(b"ok" * 100)
    assert (small_fs / f"vmcore.{ip}.0").read_bytes() == b"ok" * 100


@root_only
def test_savecores_minfree_file_is_honoured(small_fs: Path) -> None:
    store = DirectoryStore(small_fs)
    store.check(REQUEST)
    (small_fs / "minfree").write_text("8192\n")  # 8 MiB, more than the file system
    with pytest.raises(BelowFloor):
        store.check(REQUEST)


@root_only
def test_a_kdh_that_does_not_fit_above_the_floor_ends_the_dump(small_fs: Path) -> None:
    store = DirectoryStore(small_fs, min_free=Floor.parse("1M"))
    shell = _shell(store)
    shell.send(MsgType.KDH, kdh(8 << 20))
    assert shell.outcomes == [Ending.LIMIT]
    assert (
        (small_fs / "info.crashy.example.0")
        .read_text()
        .endswith(
            "Dump incomplete: the dump's length (8388608 bytes) does not fit above the disk floor\n"
        )
    )


@root_only
def test_a_dump_crossing_the_floor_ends_incomplete(small_fs: Path) -> None:
    store = DirectoryStore(small_fs, min_free=Floor.parse("2M"))
    shell = _shell(store)
    for i in range(2800):  # 1448-byte packets: about 4 MiB, on a 4 MiB file system
        shell.send(MsgType.DATA, b"d" * 1448, i * 1448)
        if shell.outcomes:
            break
    assert shell.outcomes == [Ending.LIMIT]
    assert (
        (small_fs / "info.crashy.example.0")
        .read_text()
        .endswith("Dump incomplete: disk floor reached\n")
    )
    assert store.free_bytes() > 1 << 20  # stopped near the floor, not at a full disk


def test_a_kdh_announcing_no_length_limits_nothing() -> None:
    """Test clients (the C blaster) send a header with dumplength 0: judged as without one."""
    store = MemoryStore()
    shell = _shell(store)
    shell.send(MsgType.KDH, kdh(0))
    shell.send(MsgType.DATA, b"a" * 4096, 0)
    shell.send(MsgType.FINISHED)
    assert shell.outcomes == [Ending.COMPLETE]
