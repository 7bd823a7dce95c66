"""Server edges no ordinary dump reaches: 32-bit seqnos, holes at the end, durability order.

Each test here was checked against the bug it exists for: introduced on
purpose in the server, the test failed; reverted, it passed.
"""

from __future__ import annotations

import os
import socket
import struct
import threading

import pytest

from tests.dumpclient import DATA, EKCD_KEY, FINISHED, KDH, DumpClient, message
from tests.netutil import free_loopback
from tests.serverutil import kdh, wait_for


@pytest.mark.parametrize("batch", [True, False], ids=["batched", "per-datagram"])
@pytest.mark.parametrize("first", [65_500, 2**32 - 60], ids=["past-2^16", "up-to-2^32"])
def test_acks_echo_all_32_bits_of_the_seqno(run_server, first: int, batch: bool) -> None:
    """A dump whose seqnos cross 65,535 (or end at 2**32 - 1) completes byte exact.

    The client waits for each packet's full seqno: an ack of only its low
    16 bits never matches and the dump times out. Both server I/O paths.
    """
    srv = run_server(batch=batch)
    ip = free_loopback((20024,))
    data = os.urandom(1448 * 50 + 7)  # 51 DATA packets, KDH and FINISHED: 54 seqnos
    with DumpClient(ip, srv.ip, seqno=first, retries=20) as c:  # 4 s: a 16-bit ack never comes
        c.herald()
        c.dump(data, kdh(len(data)))
        assert c.seqno == first + 54
        assert c.seqno - 1 > 0xFFFF
    assert first + 53 <= 2**32 - 1
    assert (srv.dumpdir / f"vmcore.{ip}.0").read_bytes() == data
    assert (srv.dumpdir / f"info.{ip}.0").read_text().endswith("Dump complete\n")


def _status(srv, ip: str, length: int, pieces: list[tuple[int, int]]) -> str:
    """Send a dump of ``length`` bytes of which only ``pieces`` (offset, size) arrive."""
    with DumpClient(ip, srv.ip) as c:
        c.herald()
        c.send(KDH, kdh(length))
        for offset, size in pieces:
            c.send(DATA, b"z" * size, offset)
        c.finish()
    return (srv.dumpdir / f"info.{ip}.0").read_text().splitlines()[-1]


def test_a_hole_at_the_very_end_of_the_dump(run_server) -> None:
    srv = run_server()
    ip = free_loopback((20024,))
    line = _status(srv, ip, 10_000, [(0, 4000)])
    assert line == "Dump incomplete: 6000 bytes missing at 0xfa0-0x2710"


def test_a_missing_last_byte_is_a_hole(run_server) -> None:
    srv = run_server()
    ip = free_loopback((20024,))
    line = _status(srv, ip, 10_000, [(0, 9999)])
    assert line == "Dump incomplete: 1 bytes missing at 0x270f-0x2710"


def test_more_holes_than_the_info_line_lists(run_server) -> None:
    srv = run_server()
    ip = free_loopback((20024,))
    # 100 bytes every 200: eleven holes of 100 bytes, the last one at the end.
    line = _status(srv, ip, 2200, [(off, 100) for off in range(0, 2200, 200)])
    shown = ", ".join(f"0x{s:x}-0x{s + 100:x}" for s in range(100, 1700, 200))
    assert line == f"Dump incomplete: 1100 bytes missing at {shown}, ... (3 more)"


class FsyncSpy:
    """Records every real ``os.fsync`` by the path of its descriptor.

    Before recording an fsync it drains the client's socket, so an ack the
    server had already sent shows up in ``log`` before that fsync: loopback
    delivers a datagram into the receiving socket within ``sendto``.
    """

    def __init__(self, client: socket.socket, real=os.fsync) -> None:
        self.client = client
        self.real = real
        self.lock = threading.Lock()
        self.log: list[tuple[str, object]] = []

    def drain(self) -> None:
        with self.lock:
            while True:
                try:
                    ack = self.client.recv(64, socket.MSG_DONTWAIT)
                except (BlockingIOError, TimeoutError):  # nothing queued
                    return
                if len(ack) == 4:
                    self.log.append(("ack", struct.unpack("!I", ack)[0]))

    def __call__(self, fd: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        self.drain()
        self.real(fd)
        with self.lock:
            self.log.append(("fsync", path))

    def seen(self, entry: tuple[str, object]) -> bool:
        with self.lock:
            return entry in self.log

    def index(self, entry: tuple[str, object]) -> int:
        with self.lock:
            return self.log.index(entry)


def test_finished_is_acked_only_after_dump_key_and_directory_are_fsynced(
    run_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = run_server()
    ip = free_loopback((20024,))
    key = bytes([2]) + bytes(range(32)) + (64).to_bytes(4, "big") + os.urandom(64)
    data = os.urandom(20_000)
    with DumpClient(ip, srv.ip) as c:
        c.herald()
        c.send(KDH, kdh(len(data), dumpkeysize=len(key)))
        c.send(EKCD_KEY, key)
        c.send(DATA, data)
        spy = FsyncSpy(c.sock)
        spy.drain()  # late duplicates of earlier acks, if any
        spy.log.clear()
        monkeypatch.setattr(os, "fsync", spy)
        fin = c.seqno
        c.sock.sendto(message(FINISHED, fin), (srv.ip, c.port))
        wait_for(lambda: (spy.drain(), spy.seen(("ack", fin)))[1])
        d = srv.dumpdir.resolve()
        files = (d / f"vmcore_encrypted.{ip}.0", d / f"key.{ip}.0", d)
        synced = [("fsync", str(p)) for p in files]
        wait_for(lambda: all(spy.seen(e) for e in synced))  # a late fsync fails below
    acked = spy.index(("ack", fin))
    for entry in synced:
        assert spy.index(entry) < acked, (entry, spy.log)
    assert (d / f"vmcore_encrypted.{ip}.0").read_bytes() == data
