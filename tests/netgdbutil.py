"""Proxy and target on loopback addresses, each in a thread, for tests with the real gdb."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from debugnet.inet.udpsocket import UdpShell
from debugnet.netgdb.amd64 import RegisterFile
from debugnet.netgdb.image import MemoryImage
from debugnet.netgdb.proxy import NetgdbProxy, ProxyAddresses
from debugnet.netgdb.proxy_core import ProxyConfig
from debugnet.netgdb.stub import GdbStub
from debugnet.netgdb.target import NetgdbTarget, TargetConfig
from debugnet.transport.config import TransportConfig
from debugnet.transport.duplex_config import DuplexConfig
from tests.netutil import free_loopback
from tests.relay import Relay

NETGDB_PORTS = (20025, 20026)


@dataclass
class Pair:
    proxy: NetgdbProxy
    target: NetgdbTarget
    gdb_address: str
    target_errors: list[BaseException] = field(default_factory=list)
    relay: Relay | None = None
    target_thread: threading.Thread | None = None

    def wait_target(self, timeout: float = 30.0) -> None:
        assert self.target_thread is not None
        self.target_thread.join(timeout)
        assert not self.target_thread.is_alive(), "the target did not end"

    def wait_sessions_ended(self, count: int = 1, timeout: float = 30.0) -> list[str]:
        end = time.monotonic() + timeout
        while len(self.proxy.finished) < count and time.monotonic() < end:
            time.sleep(0.02)
        return list(self.proxy.finished)


def gdb(address: str, *commands: str, timeout: float = 120.0) -> str:
    """Real gdb in batch mode: ``target remote address`` then the commands; its output.

    gdb resends a request after ``remotetimeout`` (2 s by default) with no
    reply, and a resend reaches the target twice (a proxy cannot know it is
    one): under heavy loss a request may take longer than that, so wait more.
    """
    args = ["gdb", "-nx", "-batch", "-ex", "set pagination off", "-ex", "set remotetimeout 60"]
    args += ["-ex", f"target remote {address}"]
    for cmd in commands:
        args += ["-ex", cmd]
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    return done.stdout + done.stderr


@contextmanager
def netgdb_pair(
    image: str,
    *,
    mtu: int = 1500,
    registers: Path | None = None,
    run_time: float = 0.0,
    rx_buffer: int = 4096,
    impair: dict[str, float] | None = None,
) -> Iterator[Pair]:
    """A proxy on one 127.x address, a target on another, optionally a relay between."""
    with ExitStack() as stack:
        proxy_ip = free_loopback(NETGDB_PORTS)
        target_ip = free_loopback(NETGDB_PORTS, avoid={proxy_ip})
        # A short linger: tests wait for the session's summary line.
        config = ProxyConfig(duplex=DuplexConfig(linger=0.5))
        proxy = NetgdbProxy(ProxyAddresses(proxy_ip, 20025, proxy_ip, 0), config)
        proxy.open()
        proxy_thread = threading.Thread(target=proxy.serve_forever, daemon=True)
        proxy_thread.start()
        stack.callback(proxy_thread.join, 10)
        stack.callback(proxy.stop)
        relay: Relay | None = None
        server_ip = proxy_ip
        if impair is not None:
            relay_ip = free_loopback(NETGDB_PORTS, avoid={proxy_ip, target_ip})
            relay = Relay(
                relay_ip,
                target_ip,
                proxy_ip,
                herald_port=20025,
                client_port=20026,
                spare_client_acks=True,
                duplicate_client_only=True,
                **impair,  # type: ignore[arg-type]
            )
            stack.enter_context(relay)
            server_ip = relay_ip
        stub = GdbStub(MemoryImage.open(image), RegisterFile.load(registers), run_time=run_time)
        target = NetgdbTarget(
            stub, TargetConfig(transport=TransportConfig(mtu=mtu), rx_buffer=rx_buffer)
        )
        shell = stack.enter_context(
            UdpShell(server_ip, client=target_ip, client_port=20026, gso=False)
        )
        errors: list[BaseException] = []

        def run_target() -> None:
            try:
                shell.run(target)
            except BaseException as exc:  # reported by the test
                errors.append(exc)

        thread = threading.Thread(target=run_target, daemon=True)
        thread.start()
        end = time.monotonic() + 20
        while not proxy.gdb_ports() and time.monotonic() < end and thread.is_alive():
            time.sleep(0.01)
        ports = list(proxy.gdb_ports().values())
        assert ports, f"the target never reached the proxy: {errors}"
        pair = Pair(proxy, target, f"{proxy_ip}:{ports[0]}", errors, relay, thread)
        yield pair
        thread.join(15)
