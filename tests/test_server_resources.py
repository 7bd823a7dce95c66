"""Bounded resources: idle sessions give memory back, handler runs queue, DNS is cached."""

from __future__ import annotations

import ctypes
import mmap
import socket
import threading
from pathlib import Path

import pytest

from debugnet.server import mmsg
from debugnet.server import worker as worker_module
from debugnet.server.config import ServerConfig
from debugnet.server.context import SessionContext
from debugnet.server.handler import HandlerRunner
from debugnet.server.resolver import Resolver
from debugnet.server.worker import SessionWorker
from debugnet.transport.server_session import Herald
from tests.dumpclient import DATA, DumpClient, message
from tests.memstore import MemoryStore
from tests.netutil import free_loopback
from tests.serverutil import wait_for

needs_mmsg = pytest.mark.skipif(not mmsg.available(), reason="recvmmsg is Linux-only")


def resident_pages(rx: mmsg.BatchReceiver) -> int:
    """Pages of the receive slots in memory now (mincore(2)): the kernel's own count."""
    libc = ctypes.CDLL(None, use_errno=True)
    length = len(rx.view)
    vec = (ctypes.c_ubyte * (length // mmap.PAGESIZE))()
    addr = ctypes.addressof(ctypes.c_char.from_buffer(rx.view))
    assert libc.mincore(ctypes.c_void_p(addr), ctypes.c_size_t(length), vec) == 0
    return sum(b & 1 for b in vec)


@needs_mmsg
def test_release_gives_a_burst_of_slots_back() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        rx = mmsg.BatchReceiver(b.fileno(), slots=64, slot_size=65536)
        assert resident_pages(rx) == 0  # address space only
        got = 0
        for i in range(64):
            a.send(bytes([i]) * 60000)
        while got < 64:
            got += len(rx.receive())
        assert resident_pages(rx) * mmap.PAGESIZE >= 60 * 60000  # the burst made it resident
        rx.release()
        assert resident_pages(rx) == 0
        a.send(b"again")
        assert [bytes(v) for v in rx.receive()] == [b"again"]  # still usable
        rx.close()


@needs_mmsg
def test_a_worker_gives_its_slots_back_when_quiet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "IDLE_RELEASE", 0.0)
    config = ServerConfig(tmp_path, resolve=False, progress_interval=0.05, linger=0.05)
    resolver = Resolver(enabled=False)
    ctx = SessionContext(config, resolver, HandlerRunner(None, tmp_path), MemoryStore())
    with DumpClient(free_loopback((20024,)), "127.0.0.1", payload=60000) as client:
        worker = SessionWorker(ctx, Herald(1), client.ip, "127.0.0.1", lambda w, e: None)
        worker.start()
        client.sock.settimeout(10)
        _ack, (_src, port) = client.sock.recvfrom(64)
        client.port, client.seqno = port, 2
        for i in range(64):
            client.sock.sendto(message(DATA, 100 + i, b"z" * 60000, i * 60000), ("127.0.0.1", port))
        wait_for(lambda: worker.batches > 0 and worker.releases > 0)
        worker.request_end()
        worker.thread.join(10)
    resolver.close()


def _blocking_handler(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A handler that notes its start, waits for a ``go`` file, then notes its end."""
    out, go = tmp_path / "calls", tmp_path / "go"
    out.mkdir()
    script = tmp_path / "handler.sh"
    script.write_text(
        f"#!/bin/sh\ntouch {out}/start.$$\n"
        f"while [ ! -e {go} ]; do sleep 0.01; done\ntouch {out}/end.$$\n"
    )
    script.chmod(0o755)
    return script, out, go


def test_handler_runs_queue_behind_the_job_limit(tmp_path: Path) -> None:
    script, out, go = _blocking_handler(tmp_path)
    runner = HandlerRunner(script, tmp_path, jobs=2, queue_size=3)

    def starts() -> int:
        return len(list(out.glob("start.*")))

    def run(n: int) -> None:
        runner.run("success", "192.0.2.1", "h", tmp_path / f"info.h.{n}", tmp_path / "vmcore")

    run(0)
    run(1)
    wait_for(lambda: starts() == 2 and runner.waiting() == 0)
    for n in range(2, 7):  # three wait, two find the queue full
        run(n)
    assert runner.waiting() == 3 and runner.dropped == 2
    assert starts() == 2  # never more than two processes at once
    go.touch()
    runner.wait(30)
    assert len(list(out.glob("end.*"))) == 5


def test_the_handler_queue_has_room_for_a_thousand(tmp_path: Path) -> None:
    script, _out, go = _blocking_handler(tmp_path)
    runner = HandlerRunner(script, tmp_path)
    assert runner.jobs == 4
    for n in range(1004):
        runner.run("success", "192.0.2.1", "h", tmp_path / f"info.h.{n}", tmp_path / "vmcore")
    assert runner.dropped == 0
    go.touch()
    runner.wait(120)


def test_a_slow_or_failed_refresh_keeps_the_last_good_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from debugnet.server import resolver as resolver_module

    answers: dict[str, object] = {"192.0.2.7": "crashy.example.net"}
    hang = threading.Event()

    def lookup(ip: str) -> tuple[str, list[str], list[str]]:
        answer = answers[ip]
        if answer == "hang":
            hang.wait(20)
        if not isinstance(answer, str) or answer == "hang":
            raise OSError("no PTR")
        return (answer, [], [ip])

    monkeypatch.setattr(socket, "gethostbyaddr", lookup)
    res = resolver_module.Resolver(timeout=0.05)
    assert res.hostname("192.0.2.7") == "crashy"
    monkeypatch.setattr(resolver_module, "REFRESH", 0.0)  # every call refreshes now
    answers["192.0.2.7"] = None  # DNS fails
    for _ in range(3):
        assert res.hostname("192.0.2.7") == "crashy"
    answers["192.0.2.7"] = "hang"  # DNS hangs
    for _ in range(3):
        assert res.hostname("192.0.2.7") == "crashy"  # at once: no wait on a cached name
    hang.set()
    res.close()


def test_the_lookups_waiting_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    hang = threading.Event()

    def lookup(ip: str) -> tuple[str, list[str], list[str]]:
        hang.wait(20)
        raise OSError("no PTR")

    monkeypatch.setattr(socket, "gethostbyaddr", lookup)
    res = Resolver(timeout=0.0, workers=2, max_pending=8)
    for i in range(100):
        assert res.hostname(f"192.0.2.{i}") == f"192.0.2.{i}"
    assert res.skipped == 92
    hang.set()
    res.close()
