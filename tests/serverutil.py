"""Running a real Server in-process on its own loopback address."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from debugnet.catalogue import DumpRecord, DumpState, open_catalogue
from debugnet.server.config import ServerConfig
from debugnet.server.listener import Server
from debugnet.wire.kdh import KernelDumpHeader
from tests.netutil import free_loopback


@dataclasses.dataclass
class Running:
    server: Server
    ip: str
    dumpdir: Path
    thread: threading.Thread

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(5)
        self.server.shutdown()


def start_server(dumpdir: Path, **overrides: object) -> Running:
    dumpdir.mkdir(parents=True, exist_ok=True)
    port = overrides.get("port", 20023)
    assert isinstance(port, int)
    ip = free_loopback((port, 20024))
    config = ServerConfig(dumpdir=dumpdir, bind=ip, resolve=False, linger=1.0)
    config = dataclasses.replace(config, **overrides)  # type: ignore[arg-type]
    server = Server(config)
    server.open()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return Running(server, ip, dumpdir, thread)


@pytest.fixture
def run_server(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def make(dumpdir: Path | None = None, **overrides: object) -> Running:
        running = start_server(dumpdir or tmp_path / "crash", **overrides)
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


def kdh(length: int, **kw: object) -> bytes:
    fields: dict[str, object] = {
        "architecture": "amd64",
        "hostname": "crashy",
        "versionstring": "FreeBSD 15.0-CURRENT #0: test\n",
        "panicstring": "test panic",
        "dumplength": length,
        "dumptime": 1_700_000_000,
    }
    fields.update(kw)
    return KernelDumpHeader.build(**fields).emit()  # type: ignore[arg-type]


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for another process or thread to produce a file, not for a protocol timer."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def handler_script(tmp_path: Path) -> tuple[Path, Path]:
    """A handler that records its arguments, one file per call, under ``out``."""
    out = tmp_path / "handler-out"
    out.mkdir()
    script = tmp_path / "handler.sh"
    script.write_text(f'#!/bin/sh\necho "$@" > {out}/call.$$\n')
    script.chmod(0o755)
    return script, out


def handler_calls(out: Path) -> list[list[str]]:
    return [p.read_text().split() for p in sorted(out.iterdir()) if p.stat().st_size]


def file_mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


def record_when(dumpdir: Path, dump_id: str, done: Callable[[DumpRecord], bool]) -> DumpRecord:
    found: list[DumpRecord] = []

    def ready() -> bool:
        cat = open_catalogue(dumpdir)
        try:
            r = cat.get(dump_id)
        finally:
            cat.close()
        if r is not None and done(r):
            found.append(r)
            return True
        return False

    wait_for(ready)
    return found[0]


def signed(r: DumpRecord) -> bool:
    return r.signature is not None and r.state is not DumpState.RECEIVING


def fill_disk_at(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    """Give the dump directory's writes a disk with room for ``limit`` bytes per file.

    As a real disk fills, a write that crosses the limit is short and the next
    one fails with ENOSPC, so the offset the server reports is ``limit``
    however it happened to batch its runs.
    """
    from debugnet.storage import directory

    real, realv = os.pwrite, os.pwritev

    def pwrite(fd: int, data: bytes, offset: int) -> int:
        if offset >= limit:
            raise OSError(28, "No space left on device")
        return real(fd, memoryview(data)[: limit - offset], offset)

    def pwritev(fd: int, pieces: list[bytes], offset: int) -> int:
        if offset >= limit:
            raise OSError(28, "No space left on device")
        if offset + sum(len(p) for p in pieces) <= limit:
            return realv(fd, pieces, offset)
        return real(fd, b"".join(pieces)[: limit - offset], offset)

    monkeypatch.setattr(directory.os, "pwrite", pwrite)
    monkeypatch.setattr(directory.os, "pwritev", pwritev)


def servers_on(tmp_path: Path, port: int) -> Iterator[Callable[..., Running]]:
    """A fixture's body: start servers on ``port`` with overrides, stop them all after."""
    started: list[Running] = []

    def make(**overrides: object) -> Running:
        srv = start_server(tmp_path / "crash", port=port, **overrides)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()
