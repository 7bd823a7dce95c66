"""The proxy's shell on loopback: refused heralds, concurrent and sequential kernels, gdb ports."""

from __future__ import annotations

import ipaddress
import random
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from debugnet.inet.udpsocket import UdpShell
from debugnet.netgdb.image import MemoryImage
from debugnet.netgdb.packet import frame
from debugnet.netgdb.proxy import NetgdbProxy, ProxyAddresses
from debugnet.netgdb.proxy_core import ProxyConfig
from debugnet.netgdb.stub import GdbStub
from debugnet.netgdb.target import NetgdbTarget
from debugnet.transport.duplex_config import DuplexConfig
from debugnet.wire.constants import NETGDB_AUX2
from debugnet.wire.message import ACK, HEADER, MsgType
from tests.netgdbutil import NETGDB_PORTS
from tests.netutil import free_loopback

pytestmark = pytest.mark.slow
BASE = 0x200000


def _free_tcp_pair(ip: str) -> int:
    """A port P with P and P + 1 free on ``ip``."""
    for _ in range(100):
        port = random.randint(30000, 60000)
        socks = []
        try:
            for p in (port, port + 1):
                s = socket.socket()
                socks.append(s)
                s.bind((ip, p))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free TCP port pair")


@contextmanager
def running_proxy(**config: object) -> Iterator[tuple[NetgdbProxy, str, int]]:
    ip = free_loopback(NETGDB_PORTS)
    gdb_port = _free_tcp_pair(ip)
    proxy = NetgdbProxy(
        ProxyAddresses(ip, 20025, ip, gdb_port),
        ProxyConfig(duplex=DuplexConfig(linger=0.2), **config),  # type: ignore[arg-type]
    )
    proxy.open()
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy, ip, gdb_port
    finally:
        proxy.stop()
        thread.join(10)
        proxy.close()


def start_target(stack: ExitStack, proxy_ip: str, image: str) -> threading.Thread:
    ip = free_loopback(NETGDB_PORTS, avoid={proxy_ip})
    target = NetgdbTarget(GdbStub(MemoryImage.open(image)))
    shell = stack.enter_context(UdpShell(proxy_ip, client=ip, client_port=20026))
    thread = threading.Thread(target=shell.run, args=(target,), daemon=True)
    thread.start()
    stack.callback(thread.join, 30)  # before the shell closes: the proxy's FINISHED ends it
    return thread


def test_refused_herald_gets_no_answer_and_a_good_one_does() -> None:
    with running_proxy(allow=(ipaddress.IPv4Network("127.0.0.0/8"),)) as (proxy, ip, _port):
        kernel_ip = free_loopback(NETGDB_PORTS, avoid={ip})
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((kernel_ip, 20026))
            s.settimeout(30)
            s.sendto(HEADER.pack(MsgType.HERALD, 7, 0, 0, 0), (ip, 20025))  # netdump's aux2
            s.sendto(HEADER.pack(MsgType.HERALD, 9, 0, 0, NETGDB_AUX2), (ip, 20025))
            reply, (src_ip, src_port) = s.recvfrom(100)
        assert ACK.unpack(reply) == (9,)  # the refused herald (seqno 7) got nothing
        assert src_ip == ip and src_port != 20025  # from a fresh session port
        assert proxy.core.counters["herald aux2 is not netgdb's"] == 1


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed (.ci/run does)")
def test_concurrent_then_sequential_kernels(tmp_path: Path) -> None:
    images = []
    for i in range(3):
        path = tmp_path / f"m{i}.bin"
        path.write_bytes(bytes([0x10 * (i + 1)]) * 4096)
        images.append(f"{path}@{BASE:#x}")
    with ExitStack() as stack, running_proxy() as (proxy, ip, gdb_port):
        threads = [start_target(stack, ip, images[0])]
        _wait(lambda: len(proxy.gdb_ports()) == 1)
        threads.append(start_target(stack, ip, images[1]))
        _wait(lambda: len(proxy.gdb_ports()) == 2)
        ports = proxy.gdb_ports()
        assert sorted(ports.values()) == [gdb_port, gdb_port + 1]
        pipe = subprocess.PIPE
        gdbs = {p: subprocess.Popen(_gdb(ip, p), stdout=pipe, text=True) for p in ports.values()}
        outs = {port: p.communicate(timeout=120)[0] for port, p in gdbs.items()}
        first = next(k for k, p in ports.items() if p == gdb_port)
        for kernel, port in ports.items():
            byte = 0x10 if kernel == first else 0x20
            assert f"{BASE:#x}:\t" + "\t".join([f"{byte:#04x}"] * 4) in outs[port], outs[port]
        for t in threads:
            t.join(30)
        _wait(lambda: len(proxy.finished) == 2)
        # The listener stays open: a later kernel gets the first gdb port again.
        threads.append(start_target(stack, ip, images[2]))
        _wait(lambda: len(proxy.gdb_ports()) == 1)
        assert list(proxy.gdb_ports().values()) == [gdb_port]
        done = subprocess.run(_gdb(ip, gdb_port), capture_output=True, text=True, timeout=120)
        out = done.stdout
        assert f"{BASE:#x}:\t" + "\t".join(["0x30"] * 4) in out, out
        threads[-1].join(30)
        _wait(lambda: len(proxy.finished) == 3)
        assert all("ended: gdb disconnected" in line for line in proxy.finished)


def _gdb(ip: str, port: int) -> list[str]:
    cmds = [f"target remote {ip}:{port}", f"x/4xb {BASE:#x}", "detach"]
    return ["gdb", "-nx", "-batch", *(a for c in cmds for a in ("-ex", c))]


def _wait(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    """Readiness of threads we started, not a timing assertion."""
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        time.sleep(0.01)
    assert cond(), "condition not reached"


def test_a_gdb_that_stops_reading_does_not_stall_other_kernels(tmp_path: Path) -> None:
    """Kernel bytes for a stalled gdb wait in the proxy; the other session goes on."""
    path = tmp_path / "m.bin"
    path.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    with ExitStack() as stack, running_proxy() as (proxy, ip, gdb_port):
        start_target(stack, ip, f"{path}@{BASE:#x}")
        _wait(lambda: len(proxy.gdb_ports()) == 1)
        stuck = stack.enter_context(socket.socket())
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect((ip, gdb_port))
        # Ask for far more than the socket buffers hold (16 MB of replies), and never read.
        reqs = b"".join(frame(b"m%x,7fe" % (BASE + i * 0x7FE % 0xF0000)) for i in range(4000))
        stuck.sendall(b"+" + frame(b"QStartNoAckMode") + reqs)
        _wait(lambda: any(h.blocked for h in proxy.handles), timeout=120)
        start_target(stack, ip, f"{path}@{BASE:#x}")
        _wait(lambda: len(proxy.gdb_ports()) == 2)
        other = next(p for p in proxy.gdb_ports().values() if p != gdb_port)
        done = subprocess.run(_gdb(ip, other), capture_output=True, text=True, timeout=120)
        assert f"{BASE:#x}:\t0x00\t0x01\t0x02\t0x03" in done.stdout, done.stdout
