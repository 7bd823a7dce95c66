"""A dump directory of known dumps, received by the real server, for the dashboard's tests.

Two clients send: three amd64 minidumps whose message buffers hold two
different traps (two dumps share one), one plain dump with a panic string
only, one dump with a hole, and one dump still open when the server stops
(server stopped). What the dashboard shows is then checked against these facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.dumpclient import DATA, KDH, DumpClient
from tests.minidumps import minidump, ring_with
from tests.netutil import free_loopback
from tests.serverutil import Running, kdh, wait_for

TCP_TRAP = b"""\
Copyright (c) 1992-2025 The FreeBSD Project.
Fatal trap 12: page fault while in kernel mode
cpuid = 1; apic id = 01
fault virtual address   = 0x18
KDB: stack backtrace:
#0 0xffffffff80b9009d at kdb_backtrace+0x5d
#1 0xffffffff80b43132 at vpanic+0x132
#2 0xffffffff80b42ff3 at panic+0x43
#3 0xffffffff81010a59 at trap_fatal+0x389
#4 0xffffffff80fe7d28 at calltrap+0x8
#5 0xffffffff80d2f2c1 at tcp_output+0x1a1
#6 0xffffffff80d3a6a3 at tcp_usr_send+0x263
panic: page fault
"""

ZFS_TRAP = TCP_TRAP.replace(b"tcp_output+0x1a1", b"zio_done+0x42").replace(
    b"tcp_usr_send", b"zio_execute"
)


def image(text: bytes) -> bytes:
    return minidump(ring_with(text, 8192, wseq=len(text)), wseq=len(text))


@dataclass(frozen=True, slots=True)
class Known:
    dumpdir: Path
    host_a: str
    host_b: str
    tcp_image: bytes
    """The bytes of host_a's first dump, to compare downloads with."""


def start_any_port(dumpdir: Path, **overrides: object) -> Running:
    """A real server on a free loopback address and a kernel-chosen herald port, so a
    server another program runs on 0.0.0.0:20023 does not get in the way."""
    import dataclasses
    import threading

    from debugnet.server.config import ServerConfig
    from debugnet.server.listener import Server

    dumpdir.mkdir(parents=True, exist_ok=True)
    ip = free_loopback(ports=())
    config = ServerConfig(dumpdir=dumpdir, bind=ip, port=0, resolve=False, linger=1.0)
    server = Server(dataclasses.replace(config, **overrides))  # type: ignore[arg-type]
    server.open()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return Running(server, ip, dumpdir, thread)


def _send(
    ip: str, server: tuple[str, int], data: bytes, panic: str, length: int | None = None
) -> None:
    with DumpClient(ip, server[0], server_port=server[1]) as c:
        c.herald()
        c.dump(data, kdh(length if length is not None else len(data), panicstring=panic))


def make_known_dumps(dumpdir: Path) -> Known:
    """Receive the known dumps into ``dumpdir`` with a real server (hosts named by address)."""
    running = start_any_port(dumpdir)
    srv = running.server.address
    host_a = free_loopback(ports=(20024,), avoid={running.ip})
    host_b = free_loopback(ports=(20024,), avoid={running.ip, host_a})
    tcp = image(TCP_TRAP)
    try:
        _send(host_a, srv, tcp, "page fault")
        _send(host_a, srv, image(TCP_TRAP + b"reboot\n"), "page fault")
        _send(host_b, srv, image(ZFS_TRAP), "page fault")
        _send(host_b, srv, b"plain memory image\n" * 200, "vm_fault: pager read error")
        _send(host_a, srv, b"z" * 4000, "spin lock held too long", length=8000)
        # A dump that never finishes: the shutdown ends it "server stopped" (endings table).
        with DumpClient(host_b, srv[0], server_port=srv[1]) as c:
            c.herald()
            c.send(KDH, kdh(100_000, panicstring="watchdog timeout"))
            c.send(DATA, b"w" * 5000, 0)
    finally:
        running.stop()
    wait_for(lambda: len(list(dumpdir.glob("info.*"))) >= 6)
    return Known(dumpdir, host_a, host_b, tcp)
