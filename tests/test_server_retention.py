"""Retention by count per host, total size and age; never a dump being received."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from debugnet.catalogue import DumpState
from debugnet.server.retention import RetentionPolicy, RetentionRunner, apply, choose, scan
from tests.dumpclient import DumpClient
from tests.netutil import free_loopback
from tests.serverutil import Running, kdh, record_when, wait_for

DAY = 86400.0
NOW = 1_800_000_000.0


def make_dump(
    d: Path, host: str, index: int, age_days: float, size: int, ended: bool = True
) -> None:
    (d / f"vmcore.{host}.{index}").write_bytes(b"v" * size)
    info = d / f"info.{host}.{index}"
    info.write_text(f"Dump from {host} [192.0.2.1]\n" + ("Dump complete\n" if ended else ""))
    t = NOW - age_days * DAY
    os.utime(info, (t, t))


def names(d: Path) -> set[str]:
    return {p.name for p in d.iterdir()}


def test_keep_per_host_deletes_the_oldest(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    for i in range(4):
        make_dump(tmp_path, "a", i, age_days=10 - i, size=10)
    make_dump(tmp_path, "b", 0, age_days=20, size=10)
    os.symlink("vmcore.a.0", tmp_path / "vmcore.a.last")  # a stale link to a deleted dump
    deleted = apply(tmp_path, RetentionPolicy(keep_per_host=2), NOW)
    assert [(d.host, d.index) for d in deleted] == [("a", 0), ("a", 1)]
    assert names(tmp_path) == {
        "vmcore.a.2", "info.a.2", "vmcore.a.3", "info.a.3", "vmcore.b.0", "info.b.0"
    }  # fmt: skip
    assert sum("retention: deleted" in r.getMessage() for r in caplog.records) == 2


def test_max_total_deletes_oldest_first_until_under(tmp_path: Path) -> None:
    for i, age in enumerate([5, 1, 3]):
        make_dump(tmp_path, "h", i, age_days=age, size=1000)
    deleted = apply(tmp_path, RetentionPolicy(max_total=2100), NOW)
    assert [d.index for d in deleted] == [0]  # 5 days old first
    deleted = apply(tmp_path, RetentionPolicy(max_total=1100), NOW)
    assert [d.index for d in deleted] == [2]


def test_max_age(tmp_path: Path) -> None:
    make_dump(tmp_path, "h", 0, age_days=31, size=1)
    make_dump(tmp_path, "h", 1, age_days=29, size=1)
    assert [d.index for d in apply(tmp_path, RetentionPolicy(max_age_days=30), NOW)] == [0]


def test_a_dump_being_received_is_never_deleted(tmp_path: Path) -> None:
    make_dump(tmp_path, "h", 0, age_days=100, size=5000, ended=False)  # oldest and biggest
    make_dump(tmp_path, "h", 1, age_days=1, size=10)
    policy = RetentionPolicy(keep_per_host=1, max_total=1, max_age_days=0.5)
    deleted = choose(scan(tmp_path), policy, NOW)
    assert [d.index for d in deleted] == [1]


def test_subdirectories_are_walked_and_symlinks_not_followed(tmp_path: Path) -> None:
    root, outside = tmp_path / "crash", tmp_path / "outside"
    (root / "rack1").mkdir(parents=True)
    outside.mkdir()
    make_dump(root / "rack1", "h", 0, age_days=40, size=1)
    make_dump(outside, "h", 0, age_days=40, size=1)
    os.symlink(str(outside), root / "elsewhere")
    deleted = apply(root, RetentionPolicy(max_age_days=30), NOW)
    assert [(d.directory, d.index) for d in deleted] == [("rack1", 0)]
    assert names(outside) == {"vmcore.h.0", "info.h.0"}


def test_the_runner_applies_when_triggered(tmp_path: Path) -> None:
    runner = RetentionRunner(tmp_path, RetentionPolicy(keep_per_host=1))
    runner.start()
    make_dump(tmp_path, "h", 0, age_days=2, size=1)
    make_dump(tmp_path, "h", 1, age_days=1, size=1)
    runner.trigger()
    wait_for(lambda: not (tmp_path / "info.h.0").exists())
    runner.stop()
    assert runner.deleted == 1


def test_dumps_a_dead_collector_left_are_marked_at_start_up(tmp_path: Path) -> None:
    from debugnet.server.sweep import mark_interrupted

    (tmp_path / "rack1").mkdir()
    make_dump(tmp_path / "rack1", "h", 0, age_days=1, size=10, ended=False)
    make_dump(tmp_path, "h", 1, age_days=1, size=10)  # ended: left alone
    calls: list[tuple[str, ...]] = []
    marked = mark_interrupted(tmp_path, lambda *a: calls.append(tuple(map(str, a))))
    assert [(d.directory, d.index) for d in marked] == [("rack1", 0)]
    assert (
        (tmp_path / "rack1" / "info.h.0")
        .read_text()
        .endswith("Dump incomplete: server stopped while receiving\n")
    )
    assert (tmp_path / "info.h.1").read_text().endswith("Dump complete\n")
    assert calls == [
        (
            "error",
            "192.0.2.1",
            "h",
            str(tmp_path / "rack1/info.h.0"),
            str(tmp_path / "rack1/vmcore.h.0"),
        )
    ]
    assert mark_interrupted(tmp_path) == []  # once


def test_a_deletion_is_recorded_in_the_catalogue(run_server: Callable[..., Running]) -> None:
    """The server's retention keeps the record (history, groups) and says its files are gone."""
    srv = run_server(retention=RetentionPolicy(keep_per_host=1))
    ip = free_loopback((20024,))
    for n in range(2):
        with DumpClient(ip, srv.ip) as c:
            c.herald()
            c.dump(b"r" * 2000, kdh(2000))
        wait_for(lambda: srv.server.active_sessions() == 0)
        record_when(srv.dumpdir, f"{ip}.{n}", lambda r: r.state is DumpState.COMPLETE)
    wait_for(lambda: not (srv.dumpdir / f"info.{ip}.0").exists())
    gone = record_when(srv.dumpdir, f"{ip}.0", lambda r: r.files == [])
    assert gone.state is DumpState.COMPLETE
    kept = record_when(srv.dumpdir, f"{ip}.1", lambda r: r.state is DumpState.COMPLETE)
    assert f"vmcore.{ip}.1" in kept.files


def make_savecore_dump(d: Path, host: str, index: int, age_days: float, size: int) -> Path:
    """A dump as ``serve --layout savecore`` writes it: ``<host>/vmcore.N``, ``info.N``."""
    directory = d / host
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"vmcore_encrypted.{index}.gz").write_bytes(b"v" * size)
    (directory / f"key.{index}").write_bytes(b"k" * 10)
    info = directory / f"info.{index}"
    info.write_text(f"Dump from {host} [192.0.2.1]\nDump complete\n")
    t = NOW - age_days * DAY
    os.utime(info, (t, t))
    return directory


def test_savecore_layout_dumps_are_found_and_deleted(tmp_path: Path) -> None:
    for i in range(3):
        rack = make_savecore_dump(tmp_path / "rack1", "a", i, age_days=10 - i, size=100)
    make_savecore_dump(tmp_path, "b", 0, age_days=20, size=100)
    os.symlink("info.0", rack / "info.last")  # a stale link: goes with its dump
    os.symlink("vmcore_encrypted.2.gz", rack / "vmcore_encrypted.last.gz")  # the newest: stays
    found = {(d.path, d.host, d.index): d for d in scan(tmp_path)}
    assert set(found) == {("rack1", "a", 0), ("rack1", "a", 1), ("rack1", "a", 2), ("", "b", 0)}
    files = [rack / n for n in ("info.0", "key.0", "vmcore_encrypted.0.gz")]
    assert found[("rack1", "a", 0)].size == sum(p.stat().st_size for p in files)
    assert found[("", "b", 0)].directory == "b"
    deleted = apply(tmp_path, RetentionPolicy(keep_per_host=1), NOW)
    assert [(d.path, d.host, d.index) for d in deleted] == [("rack1", "a", 0), ("rack1", "a", 1)]
    assert names(rack) == {"info.2", "key.2", "vmcore_encrypted.2.gz", "vmcore_encrypted.last.gz"}
    assert names(tmp_path / "b") == {"info.0", "key.0", "vmcore_encrypted.0.gz"}


def test_savecore_layout_unended_dump_is_marked_at_start_up(tmp_path: Path) -> None:
    from debugnet.server.sweep import mark_interrupted

    directory = tmp_path / "h"
    directory.mkdir()
    (directory / "vmcore.0").write_bytes(b"v")
    (directory / "info.0").write_text("Dump from h [192.0.2.1]\n")
    assert [(d.host, d.index) for d in mark_interrupted(tmp_path)] == [("h", 0)]
    assert (directory / "info.0").read_text().endswith("server stopped while receiving\n")


def test_a_savecore_layout_server_applies_retention(run_server: Callable[..., Running]) -> None:
    srv = run_server(layout="savecore", retention=RetentionPolicy(keep_per_host=1))
    ip = free_loopback((20024,))
    for n in range(2):
        with DumpClient(ip, srv.ip) as c:
            c.herald()
            c.dump(b"r" * 2000, kdh(2000))
        wait_for(lambda: srv.server.active_sessions() == 0)
        record_when(srv.dumpdir, f"{ip}.{n}", lambda r: r.state is DumpState.COMPLETE)
    wait_for(lambda: not (srv.dumpdir / ip / "info.0").exists())
    assert not (srv.dumpdir / ip / "vmcore.0").exists()
    assert (srv.dumpdir / ip / "vmcore.1").read_bytes() == b"r" * 2000
    assert os.readlink(srv.dumpdir / ip / "vmcore.last") == "vmcore.1"
    gone = record_when(srv.dumpdir, f"{ip}.0", lambda r: r.files == [])
    assert gone.state is DumpState.COMPLETE
